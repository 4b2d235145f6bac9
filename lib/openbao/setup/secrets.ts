import { randomBytes } from 'node:crypto'
import { BootstrapError } from '../../core/errors.ts'
import { redactor } from '../../core/redact.ts'
import type { OpenBaoAppConfig } from '../../runner/config.ts'
import { errorsOf } from '../client.ts'
import { generatedKey } from '../init-store.ts'
import { KV_MOUNT } from './policy.ts'
import type { BaoRequests } from './requests.ts'
import type { Changes, OpenBaoSession, Rotation } from './session.ts'

/**
 * Each app's initial secrets at secret/data/<app>: written only where missing, with
 * check-and-set, never overwritten (some can never change); only `--rotate <app>/<field>`
 * replaces one. Generated values are kept in the init file too, so a recreated OpenBao gets
 * the same ones back.
 */

/** `--rotate <app>/<field>`, each naming a configured secret. */
export function parseRotations(specs: string[], apps: OpenBaoAppConfig[]): Rotation[] {
  const known = apps.flatMap((app) => Object.keys(app.secrets).map((field) => `${app.name}/${field}`))
  const hint = known.length ? `configured secrets: ${known.join(', ')}` : 'no app in openbao.apps has secrets'
  const rotations: Rotation[] = []
  for (const spec of specs) {
    const slash = spec.indexOf('/')
    if (slash <= 0 || slash === spec.length - 1) {
      throw new BootstrapError(`--rotate ${JSON.stringify(spec)}: expected <app>/<field>`, {
        hint,
        exitCode: 2,
      })
    }
    const name = spec.slice(0, slash)
    const field = spec.slice(slash + 1)
    const app = apps.find((a) => a.name === name)
    if (!app)
      throw new BootstrapError(`--rotate ${spec}: no app "${name}" in openbao.apps`, { hint, exitCode: 2 })
    if (!(field in app.secrets)) {
      throw new BootstrapError(`--rotate ${spec}: app ${name} has no secret field "${field}"`, {
        hint,
        exitCode: 2,
      })
    }
    if (!rotations.some((r) => r.app === name && r.field === field)) rotations.push({ app: name, field })
  }
  return rotations
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** Letters and digits only: safe in env files, URLs and config templates. Rejection sampling keeps it uniform. */
export function randomSecret(length: number): string {
  let out = ''
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62]
    }
  }
  return out
}

interface KvState {
  /** 0 when the path never existed: cas 0 then means "only if still absent". */
  version: number
  data: Record<string, unknown> | undefined
}

export async function ensureSecrets(session: OpenBaoSession): Promise<void> {
  const rotating = (app: string, field: string) =>
    session.options.rotate.some((r) => r.app === app && r.field === field)
  let bootstrap: Record<string, string> | undefined
  const bootstrapValue = async (field: string): Promise<string> => {
    bootstrap ??= await session.options.bootstrapValues()
    const value = bootstrap[field]
    if (value === undefined || value === '') {
      throw new BootstrapError(`bootstrap secret field ${field} has no value`, {
        hint: 'add it to the bootstrap secrets (`sops <secrets file>`)',
      })
    }
    redactor.add(value)
    return value
  }

  const writes: {
    app: OpenBaoAppConfig
    state: KvState
    add: Record<string, string>
    rotated: Set<string>
  }[] = []
  for (const app of session.options.apps) {
    const fields = Object.entries(app.secrets)
    if (fields.length === 0) continue
    const state = await readKv(session.bao, app.name)
    const add: Record<string, string> = {}
    const rotated = new Set<string>()
    for (const [field, spec] of fields) {
      const subject = `secret ${app.name}/${field}`
      const live = state.data?.[field]
      const exists = state.data !== undefined && Object.hasOwn(state.data, field)
      const keep = 'generate' in spec ? generatedKey(app.name, field) : undefined
      const rotate = rotating(app.name, field)
      if (exists && !rotate) {
        // The live value wins, and becomes the copy a recreated OpenBao gets back.
        if (keep && typeof live === 'string' && session.initValues.get(keep) !== live) {
          session.initValues.set(keep, live)
          session.entry(
            subject,
            'kept',
            `exists; its copy in ${session.options.initFile} updated to the live value`,
          )
        } else {
          session.entry(subject, 'kept', `exists; only --rotate ${app.name}/${field} replaces it`)
        }
        continue
      }
      let value: string
      let source: string
      if ('fromField' in spec) {
        value = await bootstrapValue(spec.fromField)
        source = `from bootstrap field ${spec.fromField}`
      } else if (!rotate && keep && session.initValues.get(keep)) {
        value = session.initValues.get(keep) as string
        source = `restored from ${session.options.initFile}`
      } else {
        value = session.deps.randomSecret(spec.generate)
        redactor.add(value)
        if (keep) session.initValues.set(keep, value)
        source = `generated, ${spec.generate} characters, copy in ${session.options.initFile}`
      }
      if (exists && live === value) {
        session.entry(subject, 'skipped', `--rotate: ${source} is the value it already has`)
        continue
      }
      add[field] = value
      if (exists) rotated.add(field)
      session.entry(subject, exists ? 'replaced' : 'created', source)
    }
    if (Object.keys(add).length > 0) writes.push({ app, state, add, rotated })
  }
  // Generated values reach the init file before OpenBao: a stop in between loses none.
  await session.initValues.save()
  if (session.options.dryRun) return
  for (const write of writes)
    await writeKv(session.bao, session, write.app.name, write.state, write.add, write.rotated)
}

async function readKv(bao: BaoRequests, app: string): Promise<KvState> {
  if (bao.empty) return { version: 0, data: undefined }
  const path = `${KV_MOUNT}/data/${app}`
  const response = await bao.send('GET', path)
  const body = response.body as
    | { data?: { data?: Record<string, unknown> | null; metadata?: { version?: number } } }
    | undefined
  const version = body?.data?.metadata?.version ?? 0
  if (response.status === 404) return { version, data: undefined }
  if (response.status !== 200) throw bao.failure(response, `read ${path}`)
  const data = body?.data?.data ?? undefined
  for (const value of Object.values(data ?? {})) if (typeof value === 'string') redactor.add(value)
  return { version, data: data ?? undefined }
}

/** KV v2 with check-and-set; on a concurrent write, read again and add only what is still missing. */
async function writeKv(
  bao: BaoRequests,
  changes: Changes,
  app: string,
  initial: KvState,
  wanted: Record<string, string>,
  rotated: Set<string>,
): Promise<void> {
  const path = `${KV_MOUNT}/data/${app}`
  let state = initial
  let add = { ...wanted }
  for (let attempt = 1; ; attempt++) {
    const data = { ...(state.data ?? {}), ...add }
    const response = await bao.send('POST', path, { options: { cas: state.version }, data })
    if (response.status === 200 || response.status === 204) return
    const conflict = response.status === 400 && /check-and-set/i.test(errorsOf(response.body))
    if (!conflict || attempt >= 3) throw bao.failure(response, `write ${path}`)
    state = await readKv(bao, app)
    const current = state.data
    add = Object.fromEntries(
      Object.entries(add).filter(
        ([field]) => rotated.has(field) || !(current && Object.hasOwn(current, field)),
      ),
    )
    for (const field of Object.keys(wanted).filter((f) => !(f in add))) {
      changes.entry(`secret ${app}/${field}`, 'kept', 'written by someone else meanwhile; theirs is kept')
    }
    if (Object.keys(add).length === 0) return
  }
}
