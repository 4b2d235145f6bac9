import { createServer, type Socket } from 'node:net'
import { PortForward } from '@kubernetes/client-node'
import type { Context } from '../context.ts'
import { BootstrapError } from '../errors.ts'
import type { KObject } from '../kube.ts'
import { loadKubeConfig } from '../kube.ts'
import type { OpenBaoEndpoint } from '../openbao/endpoint.ts'

/** OpenBao through a port-forward to its first Running pod (client-node, no kubectl process). */
export async function portForwardOpenBao(ctx: Context): Promise<OpenBaoEndpoint> {
  if (ctx.env.openbao.address) return { address: ctx.env.openbao.address, close: async () => {} }
  const namespace = ctx.env.openbao.namespace
  const pods = await (await ctx.kube()).list<KObject>(
    'v1',
    'Pod',
    namespace,
    'app.kubernetes.io/name=openbao',
  )
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
  return { address: `http://127.0.0.1:${server.port}`, close: server.close }
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
