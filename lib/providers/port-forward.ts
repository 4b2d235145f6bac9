import { createServer, type Socket } from 'node:net'
import { PortForward } from '@kubernetes/client-node'
import { BootstrapError } from '../core/errors.ts'
import { waitFor } from '../core/wait.ts'
import type { KObject, Kube } from '../kube/client.ts'
import { loadKubeConfig } from '../kube/client.ts'
import type { OpenBaoEndpoint, OpenBaoStorage } from '../openbao/endpoint.ts'
import type { Context } from '../runner/context.ts'

/** OpenBao through a port-forward to its first Running pod (client-node, no kubectl process). */
export async function portForwardOpenBao(ctx: Context): Promise<OpenBaoEndpoint> {
  if (ctx.env.openbao.address) return { address: ctx.env.openbao.address, close: async () => {} }
  const namespace = ctx.env.openbao.namespace
  const kube = await ctx.kube()
  const pods = await kube.list<KObject>('v1', 'Pod', namespace, 'app.kubernetes.io/name=openbao')
  const pod = pods.find((p) => (p.status as { phase?: string } | undefined)?.phase === 'Running')
  if (!pod) {
    throw new BootstrapError(`no Running OpenBao pod in namespace ${namespace}`, {
      hint: 'is the openbao Application Synced/Healthy? `kubectl -n argocd get applications`',
    })
  }
  const access = ctx.provider.access(ctx)
  const forward = new PortForward(loadKubeConfig(access.kubeconfig, access.context))
  const server = await loopbackServer((socket) => {
    forward
      .portForward(namespace, pod.metadata.name, [8200], socket, null, socket)
      .then((ws) => {
        // The socket ends with close(): its websocket to the API server must end with it.
        const closeWs = () => (ws as { close?: () => void }).close?.()
        if (socket.destroyed) closeWs()
        else socket.once('close', closeWs)
      })
      .catch(() => socket.destroy())
  })
  return {
    address: `http://127.0.0.1:${server.port}`,
    close: server.close,
    storage: podStorage(ctx, kube, pod),
  }
}

/**
 * The pod's PersistentVolumeClaims as OpenBao's storage: named by their uids; made anew by deleting
 * them with the pod, whose StatefulSet then makes the pod and new, empty claims again (a pod made
 * while its old claim was still going is deleted once more, so the StatefulSet makes the claim).
 * The port-forward reaches the new pod: it dials the pod by name on each connection.
 */
function podStorage(ctx: Context, kube: Kube, pod: KObject): OpenBaoStorage | undefined {
  const namespace = pod.metadata.namespace ?? ctx.env.openbao.namespace
  const volumes =
    (pod.spec as { volumes?: { persistentVolumeClaim?: { claimName: string } }[] }).volumes ?? []
  const claims = volumes.flatMap((v) => (v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : []))
  if (claims.length === 0) return undefined
  const pvc = (name: string) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', name, namespace })
  const podRef = { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace }
  const uids = async () =>
    (await Promise.all(claims.map((name) => kube.get(pvc(name))))).map(
      (c) => c?.metadata.uid as string | undefined,
    )
  return {
    async id() {
      const found = await uids()
      return found.every(Boolean) ? found.join(',') : undefined
    },
    async reset() {
      const old = new Set((await uids()).filter(Boolean))
      for (const name of claims) await kube.delete(pvc(name))
      await kube.delete(podRef)
      let lastKick = Date.now()
      await waitFor(
        `OpenBao's pod ${pod.metadata.name} to run again on new, empty volumes`,
        async () => {
          const [now, found] = await Promise.all([kube.get(podRef), uids()])
          const fresh = found.every((uid) => uid && !old.has(uid))
          const phase = (now?.status as { phase?: string } | undefined)?.phase
          if (now && fresh && phase === 'Running' && !now.metadata.deletionTimestamp) return true
          // Made while its old claim was still being deleted, the pod waits for a claim no one makes.
          if (now && !now.metadata.deletionTimestamp && !fresh && Date.now() - lastKick > 10_000) {
            lastKick = Date.now()
            await kube.delete(podRef)
          }
          return false
        },
        {
          timeoutMs: 300_000,
          intervalMs: 2000,
          hint: `\`kubectl -n ${namespace} get pods,pvc\` shows where it stands`,
        },
      )
    },
  }
}

/**
 * A TCP server on 127.0.0.1 whose close() ends the connections still open instead of waiting for
 * them: server.close() alone waits, and an HTTP client's keep-alive connection (node-vault's
 * agent keeps one) would hold a destroy or a setup for minutes after its work is done.
 */
export async function loopbackServer(
  onSocket: (socket: Socket) => void,
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    onSocket(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      }),
  }
}
