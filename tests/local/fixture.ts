import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { argocdCmdParams, repoServerGitConfigMap } from '../../lib/argocd/settings.ts'
import { run } from '../../lib/core/exec.ts'
import { redactor } from '../../lib/core/redact.ts'
import { applyObjects } from '../../lib/kube/apply.ts'
import { ageKeySecret } from '../../lib/kube/manifests.ts'
import { type ArgoCD, ensureArgoCD } from '../../lib/local/argocd/argocd.ts'
import { podRepoServerPaths } from '../../lib/local/argocd/pod.ts'
import { type ControlPlane, ensureControlPlane } from '../../lib/local/control-plane.ts'
import { kubeApis } from '../../lib/local/kube.ts'
import { localLayout, podRoot, servedReposDir } from '../../lib/local/layout.ts'
import { ensureOpenBao, type OpenBao } from '../../lib/local/openbao.ts'
import { stopStack } from '../../lib/local/stack.ts'
import { formatMs, Logger, type Sink } from '../../lib/runner/log.ts'
import { armReaper, type Reaper } from '../helpers/reaper.ts'
import { stackStatus } from './stack-status.ts'

/**
 * The local stack, started once per test file (beforeAll) in a fresh temp state dir and
 * stopped + wiped in afterAll — also when a test or the start itself fails. Keys (the age
 * key, the OpenBao unseal key) live in a separate temp dir, as they do outside the state dir
 * in real use. Phase times are printed at the end.
 */

export interface LocalStack {
  stateDir: string
  /** Outside the state dir: age key, unseal key. */
  keysDir: string
  ageKeyFile: string
  /** age1… recipient of ageKeyFile. */
  agePublicKey: string
  unsealKeyFile: string
  controlPlane: ControlPlane
  argocd?: ArgoCD
  openbao?: OpenBao
  log: Logger
  /** Milliseconds per named phase, printed in afterAll. */
  phases: Record<string, number>
  /** Runs `body` as a named phase and records its time. */
  phase<T>(name: string, body: () => Promise<T>): Promise<T>
  /** A process a test starts beside the stack: killed with it if the test run dies first. */
  track(child: ChildProcess): void
}

export interface StackOptions {
  nodes?: number
  argocd?: boolean
  openbao?: boolean
  /** Repository folder names under the node's gitops-repos/ the repo-server's git config trusts. */
  servedRepos?: string[]
}

/** Log lines with the time since the fixture started, straight to the terminal. */
function timedSink(origin: number): Sink {
  const stamp = () => `[${((performance.now() - origin) / 1000).toFixed(1).padStart(6)} s]`
  return {
    out: (line) => process.stdout.write(`${stamp()} ${line}\n`),
    err: (line) => process.stderr.write(`${stamp()} ${line}\n`),
  }
}

export function useLocalStack(options: StackOptions = {}): () => LocalStack {
  let stack: LocalStack | undefined
  let stateDir = ''
  let keysDir = ''
  let failed = false
  const origin = performance.now()
  const log = new Logger({ sink: timedSink(origin) })
  const phases: Record<string, number> = {}
  const phase = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const started = performance.now()
    try {
      return await body()
    } finally {
      phases[name] = performance.now() - started
      log.info(`phase ${name}: ${formatMs(phases[name] ?? 0)}`)
    }
  }
  // A run killed half way would leave the stack's detached processes and these folders behind.
  let reaper: Reaper | undefined

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'pb-local-state-'))
    keysDir = await mkdtemp(join(tmpdir(), 'pb-local-keys-'))
    reaper = armReaper()
    reaper.stack(stateDir)
    reaper.folder(stateDir)
    reaper.folder(keysDir)
    try {
      const ageKeyFile = join(keysDir, 'age.agekey')
      await run('age-keygen', ['-o', ageKeyFile])
      const agePublicKey = (await run('age-keygen', ['-y', ageKeyFile])).stdout.trim()
      redactor.add(readFileSync(ageKeyFile, 'utf8').match(/AGE-SECRET-KEY-\S+/)?.[0])
      const unsealKeyFile = join(keysDir, 'openbao-unseal.key')
      // No trailing newline: OpenBao's static seal reads the file byte for byte.
      writeFileSync(unsealKeyFile, (await run('openssl', ['rand', '-base64', '32'])).stdout.trim(), {
        mode: 0o600,
      })

      const controlPlane = await phase('control plane', () =>
        ensureControlPlane({ stateDir, nodes: options.nodes ?? 2, log }),
      )
      stack = {
        stateDir,
        keysDir,
        ageKeyFile,
        agePublicKey,
        unsealKeyFile,
        controlPlane,
        log,
        phases,
        phase,
        track: (child) => reaper?.run(child),
      }
      if (options.argocd !== false) {
        // What the runbook applies before Argo CD starts, here made by the fixture: argocd-cm and
        // argocd-secret, the cluster age key Secret, the repo-server's git config.
        const apis = kubeApis(controlPlane.kubeconfig)
        const layout = localLayout(stateDir)
        const repoServer = podRepoServerPaths(podRoot(layout, 'argocd-repo-server'), servedReposDir(layout))
        await applyObjects(
          apis.kube,
          [
            { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'argocd' } },
            {
              apiVersion: 'v1',
              kind: 'ConfigMap',
              metadata: {
                name: 'argocd-cm',
                namespace: 'argocd',
                labels: { 'app.kubernetes.io/part-of': 'argocd' },
              },
              data: {
                'kustomize.buildOptions': '--enable-alpha-plugins --enable-exec',
                'timeout.reconciliation': '10s',
              },
            } as never,
            {
              apiVersion: 'v1',
              kind: 'Secret',
              metadata: {
                name: 'argocd-secret',
                namespace: 'argocd',
                labels: { 'app.kubernetes.io/part-of': 'argocd' },
              },
              stringData: {
                'server.secretkey': (await run('openssl', ['rand', '-hex', '32'])).stdout.trim(),
              },
            } as never,
            ageKeySecret('argocd', readFileSync(ageKeyFile, 'utf8')) as never,
            repoServerGitConfigMap('argocd', options.servedRepos ?? [], repoServer).toJSON() as never,
          ],
          { force: true },
        )
        stack.argocd = await phase('argocd', () =>
          ensureArgoCD({
            stateDir,
            kubeconfig: controlPlane.kubeconfig,
            namespace: 'argocd',
            params: argocdCmdParams,
            log,
          }),
        )
      }
      if (options.openbao !== false) {
        stack.openbao = await phase('openbao', () => ensureOpenBao({ stateDir, unsealKeyFile, log }))
      }
    } catch (error) {
      failed = true
      throw error
    }
  }, 600_000)

  afterEach((context) => {
    if (context.task.result?.state === 'fail') failed = true
  })

  afterAll(async () => {
    if (!stateDir) return
    try {
      if (failed) printLogTails(stateDir, log)
      await phase('stop + wipe', () => stopStack(stateDir, { wipe: true, log }))
      const left = readdirSync(stateDir)
      if (left.length > 0) log.warn(`left in the state dir after wipe: ${left.join(', ')}`)
    } finally {
      rmSync(stateDir, { recursive: true, force: true })
      rmSync(keysDir, { recursive: true, force: true })
      reaper?.disarm()
      log.info(
        `phase times: ${Object.entries(phases)
          .map(([name, ms]) => `${name} ${formatMs(ms)}`)
          .join(', ')}`,
      )
    }
  }, 120_000)

  return () => {
    if (!stack) throw new Error('the local stack did not start (see beforeAll)')
    return stack
  }
}

function printLogTails(stateDir: string, log: Logger): void {
  for (const status of stackStatus(stateDir)) {
    let tail = ''
    try {
      tail = readFileSync(status.log, 'utf8').split('\n').slice(-15).join('\n')
    } catch {
      continue
    }
    log.warn(
      `--- ${status.name} (${status.running ? 'running' : 'not running'}), last lines of ${status.log}:`,
    )
    for (const line of tail.split('\n')) log.detail(line)
  }
}

/** Synchronous last resort on process exit: SIGKILL every recorded process group still running its command. */
