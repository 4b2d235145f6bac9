import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { execa, execaSync } from 'execa'
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml'
import { generateIdentity, writeKeyFile } from '../../lib/bootstrap-secrets/age.ts'
import { writeDemoOverlaySecret } from '../../lib/bootstrap-secrets/first-run.ts'
import { repoRoot } from '../../lib/core/paths.ts'
import { createKube, type Kube, loadKubeConfig } from '../../lib/kube/client.ts'
import { localLayout } from '../../lib/local/layout.ts'
import { stopStack } from '../../lib/local/stack.ts'
import { type EnvConfig, loadConfig } from '../../lib/runner/config.ts'
import { Logger } from '../../lib/runner/log.ts'
import { writeEncrypted } from '../../lib/sops/index.ts'
import { armReaper } from '../helpers/reaper.ts'

/**
 * A throwaway copy of this checkout where the real runbook runs as a person runs it
 * (`bun scripts/create.ts --env local`), with its own state folder and personal key, and
 * bootstrap secrets the test planted, so it can look for them in everything printed.
 */
export interface Workspace {
  dir: string
  stateDir: string
  keyFile: string
  env: EnvConfig
  /** The variables every run gets (state folder, personal key, and the caller's). */
  variables: NodeJS.ProcessEnv
  /** Every value the test planted: none may appear in any output, annotation, ConfigMap or log. */
  planted: Record<string, string>
  clusterIdentity: string
  demoPassword: string
  /** Everything every run printed, for the leak check. */
  transcript: string[]
  cli(script: string, args?: string[], options?: { env?: NodeJS.ProcessEnv }): Promise<CliResult>
  /** Starts a run without waiting: for killing it or restarting things under it. */
  spawnCli(
    script: string,
    args?: string[],
    variables?: NodeJS.ProcessEnv,
  ): { child: ChildProcess; done: Promise<CliResult>; output: () => string }
  /**
   * A process started against this workspace (every run is, and a harness's own): killed with what
   * it started if the test run dies first, before this workspace's folder is removed.
   */
  track(child: ChildProcess): void
  kube(): Kube
  dispose(): Promise<void>
}

export interface CliResult {
  code: number
  output: string
}

export interface WorkspaceOptions {
  /** The environment the runbook runs (default local). */
  envName?: string
  /** Edits the copy's environment config (a YAML document) before anything reads it. */
  configure?: (config: Record<string, unknown>) => void
  /** More variables for every run (the air-gap overrides, say). */
  variables?: Record<string, string>
  /** As a fresh clone on a new machine: no personal key, no bootstrap file, no overlay Secret planted. */
  fresh?: boolean
  /** Bootstrap values the caller chooses (a git server's password), planted instead of generated ones. */
  plant?: Record<string, string>
  /** Told of every process tracked (the kind workspace's reaper kills them before deleting its cluster). */
  onRun?: (child: ChildProcess) => void
}

export async function makeWorkspace(options: WorkspaceOptions = {}): Promise<Workspace> {
  const envName = options.envName ?? 'local'
  const root = mkdtempSync(join(tmpdir(), 'pb-runbook-'))
  const dir = join(root, 'repo')
  const stateDir = join(root, 'state')
  const keyFile = join(root, 'keys', 'keys.txt')
  // A test run killed half way must leave neither the stack running nor this folder.
  const reaper = armReaper()
  reaper.stack(join(stateDir, 'local'))
  reaper.folder(root)
  copyCheckout(dir)
  if (options.configure) {
    const file = join(dir, 'environments', envName, 'config.yaml')
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>
    options.configure(config)
    writeFileSync(file, stringifyYaml(config))
  }
  const processEnv = {
    ...process.env,
    PLATFORM_STATE_DIR: stateDir,
    SOPS_AGE_KEY_FILE: keyFile,
    FORCE_COLOR: '0',
    ...options.variables,
  }

  const personal = await generateIdentity()
  if (!options.fresh) await writeKeyFile(keyFile, personal.identity)
  const cluster = await generateIdentity()
  const tag = randomBytes(4).toString('hex')
  const planted: Record<string, string> = {
    age_cluster_private_key: cluster.identity,
    github_token_platform: `planted-platform-token-${tag}`,
    github_token_tenant: `planted-tenant-token-${tag}`,
    openbao_unseal_key: randomBytes(32).toString('base64'),
    cloudflare_api_token: `planted-cloudflare-${tag}`,
    ...options.plant,
  }
  const env = loadConfig(envName, join(dir, 'environments'), processEnv)
  const recipients = [personal.recipient, cluster.recipient]
  const demoPassword = `planted-demo-${tag}`
  if (!options.fresh) {
    await writeEncrypted(join(dir, env.secrets.sopsFile), planted, recipients)
    await writeDemoOverlaySecret(
      join(dir, `gitops/overlays/${envName}/secrets/demo-credentials.secret.yaml`),
      recipients,
      demoPassword,
    )
  }

  const transcript: string[] = []
  const track = (child: ChildProcess) => {
    reaper.run(child)
    options.onRun?.(child)
  }
  const spawnCli = (script: string, args: string[] = [], variables: NodeJS.ProcessEnv = {}) => {
    const child = execa(join(repoRoot, 'node_modules/.bin/bun'), [script, '--env', envName, ...args], {
      cwd: dir,
      env: { ...processEnv, ...variables },
      extendEnv: false,
      stdin: 'ignore',
      buffer: false,
      reject: false,
    })
    track(child)
    let output = ''
    child.stdout?.on('data', (chunk) => (output += chunk))
    child.stderr?.on('data', (chunk) => (output += chunk))
    const done = child.then((result): CliResult => {
      transcript.push(output)
      return { code: result.exitCode ?? (result.signal ? 128 + 9 : 1), output }
    })
    return { child, done, output: () => output }
  }
  const workspace: Workspace = {
    dir,
    stateDir,
    keyFile,
    env,
    variables: processEnv,
    planted: { ...planted, demo_password: demoPassword },
    clusterIdentity: cluster.identity,
    demoPassword,
    transcript,
    cli: (script, args = [], options = {}) => spawnCli(script, args, options.env).done,
    spawnCli,
    track,
    // Made anew each time: a recreated cluster has a new apiserver port and CA in its kubeconfig.
    kube: () => createKube(loadKubeConfig(localLayout(join(stateDir, 'local')).adminKubeconfig)),
    dispose: async () => {
      await stopStack(join(stateDir, 'local'), {
        wipe: true,
        log: new Logger({ sink: { out: () => {}, err: () => {} } }),
      })
      rmSync(root, { recursive: true, force: true })
      reaper.disarm()
    },
  }
  return workspace
}

/** The planted fields whose value appears in anything the workspace's runs printed. */
export function leakedFields(ws: Pick<Workspace, 'planted' | 'transcript'>): string[] {
  const text = ws.transcript.join('\n')
  return Object.entries(ws.planted)
    .filter(([, value]) => value && text.includes(value))
    .map(([field]) => field)
}

/** The files git would commit (tracked and new, not ignored), as they are now, plus node_modules. */
function copyCheckout(dir: string): void {
  const listed = execaSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
  }).stdout
  for (const file of listed.split('\0').filter(Boolean)) {
    if (!existsSync(join(repoRoot, file))) continue
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(repoRoot, file), join(dir, file))
  }
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'))
}
