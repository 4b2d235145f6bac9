import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { describeApplication } from '../../lib/argocd/status.ts'
import { errorMessage } from '../../lib/core/errors.ts'
import type { Redactor } from '../../lib/core/redact.ts'
import type { KObject, Kube } from '../../lib/kube/client.ts'
import type { Verdict } from '../assertions/assertions.ts'

/**
 * What a kind e2e run leaves behind: a JSON report with every step and assertion, its
 * duration and result, and on failure a diagnostics folder. Everything written passes through
 * the redactor first; before diagnostics are read, every Secret value in the cluster is
 * registered with it too, so a value the harness never saw is masked as well.
 */
export type EntryType = 'step' | 'assertion'

export interface ReportEntry {
  round: number
  type: EntryType
  name: string
  ok: boolean
  ms: number
  message: string
}

export interface ReportDocument {
  env: string
  startedAt: string
  finishedAt: string
  ms: number
  ok: boolean
  exitCode: number
  /** `round N name: message` of every failed entry, the first thing a reader of a red run wants. */
  failures: string[]
  entries: ReportEntry[]
  /** Relative to the report file; absent when the run passed. */
  diagnostics?: string
}

export interface ReportOptions {
  env: string
  now: () => number
  mask: (text: string) => string
  log: (line: string) => void
}

export class E2EReport {
  readonly entries: ReportEntry[] = []
  private readonly startedAt: number

  constructor(private readonly options: ReportOptions) {
    this.startedAt = options.now()
  }

  /** Runs one step or assertion; a throw becomes a failed verdict carrying its message, never an abort. */
  async measure(
    round: number,
    type: EntryType,
    name: string,
    body: () => Promise<Verdict>,
  ): Promise<Verdict> {
    const started = this.options.now()
    let result: Verdict
    try {
      result = await body()
    } catch (error) {
      result = { name, ok: false, message: errorMessage(error) }
    }
    const entry: ReportEntry = {
      round,
      type,
      name,
      ok: result.ok,
      ms: Math.round(this.options.now() - started),
      message: this.options.mask(result.message),
    }
    this.entries.push(entry)
    this.options.log(
      `  ${entry.ok ? '✓' : '✗'} [round ${round}] ${type} ${name} (${(entry.ms / 1000).toFixed(1)} s): ${entry.message}`,
    )
    return { ...result, message: entry.message }
  }

  get failed(): ReportEntry[] {
    return this.entries.filter((entry) => !entry.ok)
  }

  document(exitCode: number, diagnostics?: string): ReportDocument {
    const finished = this.options.now()
    return {
      env: this.options.env,
      startedAt: new Date(this.startedAt).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      ms: Math.round(finished - this.startedAt),
      ok: exitCode === 0,
      exitCode,
      failures: this.failed.map((entry) => `round ${entry.round} ${entry.name}: ${entry.message}`),
      entries: this.entries,
      ...(diagnostics ? { diagnostics } : {}),
    }
  }

  /** Writes `<dir>/report.json`; returns its path. */
  async write(dir: string, exitCode: number, diagnosticsDir?: string): Promise<string> {
    const file = join(dir, 'report.json')
    const doc = this.document(exitCode, diagnosticsDir ? relative(dir, diagnosticsDir) || '.' : undefined)
    await mkdir(dir, { recursive: true })
    await writeFile(file, `${this.options.mask(JSON.stringify(doc, null, 2))}\n`)
    return file
  }
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

export interface DiagnosticsSource {
  kube: Kube
  podLog(namespace: string, name: string, container: string, previous: boolean): Promise<string>
}

/** Keys of Secrets that hold no secret (repository URLs, types, public CAs): masking them would hide the cause of a failure. */
const NON_SECRET_KEYS = new Set([
  'url',
  'type',
  'project',
  'name',
  'username',
  'namespace',
  'insecure',
  'enableLFS',
  'ca.crt',
])
/** Helm's own release records: the rendered chart, not a credential, and large. */
const SKIPPED_SECRET_TYPES = new Set(['helm.sh/release.v1'])

/** Every secret value in the Secrets given, decoded, to be registered with the redactor. */
export function secretValues(secrets: KObject[]): string[] {
  const values: string[] = []
  for (const secret of secrets) {
    if (SKIPPED_SECRET_TYPES.has(String(secret.type ?? ''))) continue
    for (const [key, value] of Object.entries((secret.data ?? {}) as Record<string, string>)) {
      if (NON_SECRET_KEYS.has(key) || typeof value !== 'string') continue
      values.push(Buffer.from(value, 'base64').toString())
    }
    for (const [key, value] of Object.entries((secret.stringData ?? {}) as Record<string, string>))
      if (!NON_SECRET_KEYS.has(key) && typeof value === 'string') values.push(value)
  }
  return values
}

/** Each Application: sync/health, its conditions, its operation, and every resource not Synced/Healthy. */
export function describeApplications(apps: KObject[]): string {
  const lines = apps.flatMap(describeApplication)
  return lines.length ? `${lines.join('\n')}\n` : 'no Applications\n'
}

const EVENT_LIMIT = 300

/** Events oldest first, the most recent EVENT_LIMIT. */
export function describeEvents(events: KObject[]): string {
  const time = (e: KObject) =>
    String(
      e.lastTimestamp ??
        e.eventTime ??
        (e.metadata as { creationTimestamp?: string }).creationTimestamp ??
        '',
    )
  const sorted = [...events].sort((a, b) => time(a).localeCompare(time(b))).slice(-EVENT_LIMIT)
  return sorted
    .map((e) => {
      const o = (e.involvedObject ?? {}) as { kind?: string; name?: string; namespace?: string }
      return `${time(e)} ${String(e.type ?? '')} ${o.kind ?? '?'}/${o.namespace ? `${o.namespace}/` : ''}${o.name ?? '?'} ${String(e.reason ?? '')}: ${String(e.message ?? '').trim()}`
    })
    .join('\n')
    .concat(sorted.length ? '\n' : 'no events\n')
}

interface ContainerStatus {
  name: string
  ready?: boolean
  restartCount?: number
  state?: Record<string, { reason?: string; message?: string; exitCode?: number } | undefined>
}

export interface FailingPod {
  namespace: string
  name: string
  phase: string
  /** Containers to read logs from, and whether a previous (crashed) instance has logs too. */
  containers: { name: string; restarted: boolean }[]
  why: string
}

/** Pods that are neither Succeeded nor Running with every container ready, and pods whose containers restarted. */
export function failingPods(pods: KObject[]): FailingPod[] {
  const out: FailingPod[] = []
  for (const pod of pods) {
    const status = (pod.status ?? {}) as {
      phase?: string
      reason?: string
      message?: string
      containerStatuses?: ContainerStatus[]
      initContainerStatuses?: ContainerStatus[]
    }
    const phase = status.phase ?? 'Unknown'
    if (phase === 'Succeeded') continue
    const all = [...(status.initContainerStatuses ?? []), ...(status.containerStatuses ?? [])]
    const main = status.containerStatuses ?? []
    const restarted = all.filter((c) => (c.restartCount ?? 0) > 0)
    const unready = main.filter((c) => !c.ready)
    if (phase === 'Running' && unready.length === 0 && restarted.length === 0) continue
    const states = all
      .map((c) => {
        const [state, detail] = Object.entries(c.state ?? {}).find(([, v]) => v) ?? ['unknown', undefined]
        return `${c.name} ${state}${detail?.reason ? ` ${detail.reason}` : ''}${detail?.exitCode !== undefined ? ` exit ${detail.exitCode}` : ''}${c.restartCount ? ` restarts ${c.restartCount}` : ''}`
      })
      .join(', ')
    out.push({
      namespace: pod.metadata.namespace ?? '',
      name: pod.metadata.name,
      phase,
      containers: all.map((c) => ({ name: c.name, restarted: (c.restartCount ?? 0) > 0 })),
      why: [status.reason, status.message, states].filter(Boolean).join('; ') || 'no container status',
    })
  }
  return out
}

/**
 * Collects what a person needs to see why a run failed into `dir`: Application conditions,
 * events, failing pods and their logs, and `extra` (the runbook's output per step). A part
 * that cannot be read is noted in errors.txt; the rest is still written.
 */
export async function collectDiagnostics(
  dir: string,
  source: DiagnosticsSource | undefined,
  redactor: Redactor,
  extra: Record<string, string> = {},
): Promise<string[]> {
  const written: string[] = []
  const errors: string[] = []
  const write = async (name: string, text: string) => {
    const file = join(dir, name)
    await mkdir(dirname(file), { recursive: true })
    await writeFile(file, redactor.mask(text))
    written.push(file)
  }
  const part = async (what: string, body: () => Promise<void>) => {
    try {
      await body()
    } catch (error) {
      errors.push(`${what}: ${errorMessage(error)}`)
    }
  }
  await mkdir(dir, { recursive: true })
  if (source) {
    const { kube } = source
    // First, so that anything below (a log line, an event) holding a value is masked.
    await part('Secrets (registered for masking, never written)', async () => {
      redactor.addAll(secretValues(await kube.list('v1', 'Secret')))
    })
    await part('Applications', async () => {
      const apps = await kube.list('argoproj.io/v1alpha1', 'Application')
      await write('applications.txt', describeApplications(apps))
      await write(
        'applications.json',
        JSON.stringify(
          apps.map((a) => ({ name: a.metadata.name, spec: a.spec, status: a.status })),
          null,
          2,
        ),
      )
    })
    await part('events', async () => write('events.txt', describeEvents(await kube.list('v1', 'Event'))))
    await part('pods', async () => {
      const failing = failingPods(await kube.list('v1', 'Pod'))
      await write(
        'pods.txt',
        failing.length
          ? `${failing.map((p) => `${p.namespace}/${p.name} ${p.phase}: ${p.why}`).join('\n')}\n`
          : 'no failing pod\n',
      )
      for (const pod of failing) {
        for (const container of pod.containers) {
          const base = `logs/${pod.namespace}.${pod.name}.${container.name}`
          await part(`log of ${base}`, async () =>
            write(`${base}.log`, await source.podLog(pod.namespace, pod.name, container.name, false)),
          )
          if (container.restarted)
            await part(`previous log of ${base}`, async () =>
              write(
                `${base}.previous.log`,
                await source.podLog(pod.namespace, pod.name, container.name, true),
              ),
            )
        }
      }
    })
  } else {
    errors.push('no cluster to read from (it was not created, or its kubeconfig is unreadable)')
  }
  for (const [name, text] of Object.entries(extra)) await write(`steps/${name}.log`, text)
  if (errors.length) await write('errors.txt', `${errors.join('\n')}\n`)
  return written
}
