import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { BootstrapError } from '../../core/errors.ts'
import { waitFor } from '../../core/wait.ts'
import { formatMs, type Logger } from '../../runner/log.ts'
import { pickPorts, portIsFree } from './ports.ts'
import type { Processes, ProcessSpec } from './processes.ts'

/**
 * One long-lived process of the stack and how to tell it is ready. `ensureComponent` adopts
 * it when it already runs with the same inputs, restarts it when its command line,
 * environment or input files changed, and starts it when it is not running.
 */
export interface Component<K extends string = string> {
  name: string
  /** Ports it listens on, picked on 127.0.0.1 (the previous ones when still free). */
  portKeys: readonly K[]
  /** Ports it must keep (the apiserver on restart): fail instead of picking others. */
  fixedPorts?: Partial<Record<K, number>>
  spec(ports: Record<K, number>): Omit<ProcessSpec, 'name' | 'ports'> & {
    /** Files whose content is part of its configuration (kubeconfigs, certificates, config files). */
    inputs?: string[]
  }
  /** Answers true once it serves; called repeatedly. */
  ready(ports: Record<K, number>): Promise<boolean>
  readyTimeoutMs: number
  /** How long SIGTERM may take before SIGKILL. */
  stopTimeoutMs?: number
}

export interface Ensured<K extends string> {
  ports: Record<K, number>
  /** 'adopted': it ran already with the same inputs. */
  outcome: 'adopted' | 'started' | 'restarted'
}

export async function ensureComponent<K extends string>(
  procs: Processes,
  component: Component<K>,
  log: Logger,
): Promise<Ensured<K>> {
  const { name } = component
  const previous = procs.record(name)
  let outcome: Ensured<K>['outcome'] = 'started'

  if (previous && procs.isRunning(name)) {
    const ports = previous.ports as Record<K, number>
    const spec = component.spec(ports)
    if (previous.fingerprint === fingerprint(spec)) {
      await procs.waitUntil(name, 'ready', () => component.ready(ports), component.readyTimeoutMs)
      return { ports, outcome: 'adopted' }
    }
    log.detail(`${name}: configuration changed, restarting (pid ${previous.pid})`)
    await procs.stop(name, component.stopTimeoutMs ?? 10_000)
    await portsReleased(Object.values(previous.ports))
    outcome = 'restarted'
  } else if (previous && procs.pid(name) !== undefined) {
    log.detail(`${name}: pid ${previous.pid} is gone, starting it again`)
    outcome = 'restarted'
  }

  const ports = await portsFor(component, previous?.ports, log)
  const spec = component.spec(ports)
  const started = performance.now()
  const record = await procs.start({ ...spec, name, ports, fingerprint: fingerprint(spec) })
  await procs.waitUntil(name, 'ready', () => component.ready(ports), component.readyTimeoutMs)
  const where = Object.values(ports).length ? ` on 127.0.0.1:${Object.values(ports).join(',')}` : ''
  log.detail(
    `${name}: ${outcome} (pid ${record.pid}${where}), ready in ${formatMs(performance.now() - started)}`,
  )
  return { ports, outcome }
}

/**
 * The kernel closes a stopped process's listening sockets as it tears the process down, a moment
 * after its pid stops running the command: its ports are waited for (up to 5 s) before they are
 * bound again, so a restart on a fixed port does not find it "taken". Still held after that, the
 * port is said by portsFor as taken, naming the holder.
 */
async function portsReleased(ports: number[]): Promise<void> {
  if (ports.length === 0) return
  await waitFor(
    `ports ${ports.join(', ')} released`,
    async () => (await Promise.all(ports.map(portIsFree))).every(Boolean),
    { timeoutMs: 5_000, intervalMs: 50 },
  ).catch((error: unknown) => {
    // Still held: portsFor says so, naming the holder.
    if (!(error instanceof BootstrapError)) throw error
  })
}

async function portsFor<K extends string>(
  component: Component<K>,
  previous: Record<string, number> | undefined,
  log: Logger,
): Promise<Record<K, number>> {
  const fixed = component.fixedPorts ?? {}
  const holders = new Map<K, string>()
  const picked = await pickPorts(component.portKeys, { ...previous, ...fixed }, (key, port, holder) => {
    holders.set(key, holder)
    if (!(key in fixed))
      log.warn(`${component.name}: its port ${port} on 127.0.0.1 is now taken by ${holder}: it gets another`)
  })
  for (const [key, port] of Object.entries(fixed) as [K, number][]) {
    if (picked[key] !== port) {
      throw new BootstrapError(
        `${component.name}: port ${port} on 127.0.0.1 is taken by ${holders.get(key) ?? 'another process'}`,
        { hint: `stop that process (it took the port while ${component.name} was down), then run again` },
      )
    }
  }
  return picked
}

/** A hash of everything that configures the process: command line, environment, input files. */
export function fingerprint(spec: ReturnType<Component['spec']>): string {
  const hash = createHash('sha256')
  const runAs = spec.runAs ? [spec.runAs] : [] // absent for most: their fingerprints stay as they were
  hash.update(JSON.stringify([spec.command, spec.args, spec.env ?? {}, spec.cwd ?? '', ...runAs]))
  for (const file of spec.inputs ?? []) {
    hash.update(`\0${file}\0`)
    if (existsSync(file)) hash.update(readFileSync(file))
  }
  return hash.digest('hex')
}
