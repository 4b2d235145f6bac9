import { BootstrapError } from '../../lib/core/errors.ts'
import { apiserverComponent } from '../../lib/local/control-plane.ts'
import { localLayout } from '../../lib/local/layout.ts'
import { pkiPaths } from '../../lib/local/pki.ts'
import { ensureComponent } from '../../lib/local/process/component.ts'
import { Processes } from '../../lib/local/process/processes.ts'
import { formatMs, type Logger } from '../../lib/runner/log.ts'

/**
 * Stops the apiserver and starts it again on the same port (for fault tests: clients must
 * ride out an apiserver restart). Waits until it is ready again.
 */
export async function restartApiserver(options: {
  stateDir: string
  log: Logger
  timeoutMs?: number
}): Promise<void> {
  const layout = localLayout(options.stateDir)
  const procs = new Processes(options.stateDir)
  const previous = procs.record('kube-apiserver')
  const etcdPort = procs.record('etcd')?.ports.client
  if (!previous || etcdPort === undefined || !procs.isRunning('etcd')) {
    throw new BootstrapError('the local control plane is not running', { hint: 'run the cluster step first' })
  }
  const started = performance.now()
  const how = await procs.stop('kube-apiserver', 15_000)
  options.log.detail(`kube-apiserver: ${how} in ${formatMs(performance.now() - started)}`)
  const component = apiserverComponent(pkiPaths(layout.pki), etcdPort, {
    readyTimeoutMs: options.timeoutMs ?? 120_000,
    fixedPort: previous.ports.secure,
  })
  await ensureComponent(procs, component, options.log)
}
