import { createServer } from 'node:net'
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
  const server = createServer((socket) => {
    forward
      .portForward(namespace, pod.metadata.name, [8200], socket, null, socket)
      .catch(() => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    address: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}
