import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { caught } from '../../tests/helpers/caught.ts'
import { type AgeKeyPair, generateIdentity, writeKeyFile } from '../bootstrap-secrets/age.ts'
import { BootstrapError } from '../core/errors.ts'
import { type Run, type RunOptions, run } from '../core/exec.ts'
import {
  decrypt,
  decryptAhead,
  encrypt,
  execEnv,
  formatOf,
  recipientsOf,
  type SopsDeps,
  writeEncrypted,
} from './index.ts'

// Real sops, real age keys, temp files: nothing here is a stand-in.
const PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBszCCAVmgAwIBAgIUQ0xvY2FsIHRlc3QgY2VydGlmaWNhdGUgZm9yIHNvcHMw',
  'CgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJdGVzdC1yb290MB4XDTI2MDEwMTAwMDAw',
  '-----END CERTIFICATE-----',
  '',
].join('\n')

const planted = {
  GITHUB_TOKEN: 'ghp_plantedSecretValue0123456789',
  VAULT_CA_CRT: PEM,
  SPACED: '  leading and trailing spaces  ',
  LOOKS_LIKE_BOOL: 'true',
  LOOKS_LIKE_NUMBER: '0123',
  QUOTED: `it's "quoted"`,
  NO_FINAL_NEWLINE: 'line one\nline two',
}

let dir: string
let owner: AgeKeyPair
let other: AgeKeyPair
let ownerKeyFile: string
let otherKeyFile: string
let deps: SopsDeps

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sops-test-'))
  owner = await generateIdentity()
  other = await generateIdentity()
  ownerKeyFile = join(dir, 'keys', 'owner.txt')
  otherKeyFile = join(dir, 'keys', 'other.txt')
  await writeKeyFile(ownerKeyFile, owner.identity)
  await writeKeyFile(otherKeyFile, other.identity)
  // cwd = the temp dir: no .sops.yaml of the checkout applies to these files.
  deps = { run: inDir(dir), env: { ...process.env, SOPS_AGE_KEY_FILE: ownerKeyFile } }
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})
afterEach(() => {
  vi.unstubAllEnvs()
})

function inDir(cwd: string, record?: { command: string; args: string[]; options?: RunOptions }[]): Run {
  return (command, args, options) => {
    record?.push({ command, args, options })
    return run(command, args, { ...options, cwd })
  }
}

function expectNoPlantedValue(error: BootstrapError): void {
  const text = [error.message, error.hint ?? '', (error.cause as Error | undefined)?.message ?? ''].join('\n')
  for (const value of Object.values(planted)) {
    for (const line of value.split('\n').filter((l) => l.length >= 8)) expect(text).not.toContain(line)
  }
  expect(text).not.toContain(owner.identity)
  expect(text).not.toContain(other.identity)
}

describe('encrypt / decrypt', () => {
  for (const name of ['bootstrap.sops.yaml', 'bootstrap.sops.json', 'bootstrap.sops.env']) {
    it(`round-trips every value byte for byte (${name})`, async () => {
      const file = join(dir, 'roundtrip', name)
      await writeEncrypted(file, planted, [owner.recipient, other.recipient], deps)
      const onDisk = await readFile(file, 'utf8')
      for (const value of Object.values(planted)) {
        for (const line of value.split('\n').filter((l) => l.trim().length >= 6))
          expect(onDisk).not.toContain(line)
      }
      expect(await decrypt(file, {}, deps)).toEqual(planted)
      // Either recipient's key decrypts it.
      expect(await decrypt(file, { ageKeyFile: otherKeyFile }, deps)).toEqual(planted)
      expect((await recipientsOf(file)).sort()).toEqual([owner.recipient, other.recipient].sort())
    })
  }

  it('writes the format of the target name (--filename-override), not the yaml it reads', async () => {
    const json = await encrypt({ A: 'x' }, { file: join(dir, 'x.json'), recipients: [owner.recipient] }, deps)
    expect(JSON.parse(json).sops.age[0].recipient).toBe(owner.recipient)
    const env = await encrypt({ A: 'x' }, { file: join(dir, 'x.env'), recipients: [owner.recipient] }, deps)
    expect(env).toMatch(/^A=ENC\[/m)
    expect(env).toMatch(/^sops_age__list_0__map_recipient=/m)
  })

  it('passes the plaintext on stdin only: no argument holds a value and no file appears', async () => {
    const calls: { command: string; args: string[]; options?: RunOptions }[] = []
    const target = join(dir, 'stdin-only')
    await mkdir(target)
    await encrypt(
      planted,
      { file: join(target, 's.sops.yaml'), recipients: [owner.recipient] },
      {
        ...deps,
        run: inDir(target, calls),
      },
    )
    expect(calls).toHaveLength(1)
    const [call] = calls
    expect(call?.args[0]).toBe('encrypt')
    expect(call?.args).toContain('--filename-override')
    expect(call?.args.join(' ')).not.toContain(planted.GITHUB_TOKEN)
    expect(call?.options?.input).toContain(planted.GITHUB_TOKEN)
    expect(await readdir(target)).toEqual([])
  })

  it('refuses output where a .sops.yaml rule left a field in clear text, and writes nothing', async () => {
    const project = join(dir, 'project')
    await mkdir(project)
    await writeFile(
      join(project, '.sops.yaml'),
      `creation_rules:\n  - path_regex: .*\n    age: ${owner.recipient}\n    encrypted_regex: '^(data|stringData)$'\n`,
    )
    const file = join(project, 'secrets.sops.yaml')
    const error = await caught(
      writeEncrypted(file, { GITHUB_TOKEN: planted.GITHUB_TOKEN }, [owner.recipient], {
        ...deps,
        run: inDir(project),
      }),
    )
    expect(error.message).toContain('GITHUB_TOKEN unencrypted')
    expectNoPlantedValue(error)
    expect(await readdir(project)).toEqual(['.sops.yaml'])
  })

  it('honours a matching .sops.yaml rule that encrypts everything', async () => {
    const project = join(dir, 'project-ok')
    await mkdir(project)
    await writeFile(
      join(project, '.sops.yaml'),
      `creation_rules:\n  - path_regex: only/this/.*\n    age: ${other.recipient}\n`,
    )
    // A rule that does not match the target would make sops refuse "/dev/stdin"; the override names the real path.
    const file = join(project, 'only', 'this', 'secrets.sops.yaml')
    await writeEncrypted(file, { A: 'value-a' }, [owner.recipient], { ...deps, run: inDir(project) })
    expect(await recipientsOf(file)).toEqual([owner.recipient])
  })

  it('refuses bad recipients and reserved field names before running sops', async () => {
    const file = join(dir, 'bad.sops.yaml')
    await caught(encrypt({ A: 'x' }, { file, recipients: [] }, deps))
    await caught(encrypt({ A: 'x' }, { file, recipients: ['not-a-recipient'] }, deps))
    await caught(encrypt({ sops: 'x' }, { file, recipients: [owner.recipient] }, deps))
  })
})

describe('decrypt errors', () => {
  it('names the file, its recipients and the key file tried when no available key decrypts it', async () => {
    const file = join(dir, 'owner-only.sops.yaml')
    await writeEncrypted(file, planted, [owner.recipient], deps)
    const error = await caught(decrypt(file, { ageKeyFile: otherKeyFile }, deps))
    expect(error.message).toContain(`no available age key decrypts ${file}`)
    expect(error.message).toContain(owner.recipient)
    expect(error.message).toContain(`key file tried: ${otherKeyFile}`)
    expect(error.message).toContain('SOPS_AGE_KEY_FILE')
    expect(error.hint).toBeTruthy()
    expectNoPlantedValue(error)
  })

  it('takes the key file from SOPS_AGE_KEY_FILE and says when it does not exist', async () => {
    const file = join(dir, 'owner-only-2.sops.yaml')
    await writeEncrypted(file, planted, [owner.recipient], deps)
    const missingKey = join(dir, 'keys', 'nope.txt')
    const error = await caught(
      decrypt(file, {}, { ...deps, env: { ...process.env, SOPS_AGE_KEY_FILE: missingKey } }),
    )
    expect(error.message).toContain(`key file tried: ${missingKey}, which does not exist`)
    expectNoPlantedValue(error)
  })

  it('names a missing file', async () => {
    const file = join(dir, 'absent.sops.yaml')
    const error = await caught(decrypt(file, {}, deps))
    expect(error.message).toBe(`SOPS file ${file} does not exist`)
    await caught(recipientsOf(file))
  })

  it('names a file that is not a SOPS file', async () => {
    const file = join(dir, 'plain.yaml')
    await writeFile(file, 'A: not encrypted\n')
    const error = await caught(decrypt(file, {}, deps))
    expect(error.message).toContain(`${file} is not a SOPS-encrypted file`)
    await caught(recipientsOf(file))
  })

  it('names a corrupt file: tampered ciphertext, tampered MAC, broken YAML', async () => {
    const good = join(dir, 'good.sops.yaml')
    await writeEncrypted(good, planted, [owner.recipient], deps)
    const text = await readFile(good, 'utf8')

    const tampered = join(dir, 'tampered.sops.yaml')
    await writeFile(tampered, text.replace(/^(GITHUB_TOKEN: ENC\[AES256_GCM,data:)..../m, '$1AAAA'))
    const mac = join(dir, 'mac.sops.yaml')
    await writeFile(mac, text.replace(/(mac: ENC\[AES256_GCM,data:)..../, '$1AAAA'))
    const broken = join(dir, 'broken.sops.yaml')
    await writeFile(broken, `${text.slice(0, 200)}\n\t: : {{{\n`)

    for (const file of [tampered, mac, broken]) {
      const error = await caught(decrypt(file, {}, deps))
      expect(error.message).toContain(file)
      expect(error.message).toMatch(/corrupt/)
      expectNoPlantedValue(error)
    }
  })

  it('names every field that is not a string in one error, without showing any value', async () => {
    const file = join(dir, 'typed.sops.yaml')
    // Written by sops directly: encrypt() only takes strings.
    const { stdout } = await deps.run(
      'sops',
      [
        'encrypt',
        '--input-type',
        'yaml',
        '--output-type',
        'yaml',
        '--filename-override',
        file,
        '--age',
        owner.recipient,
      ],
      {
        input: `GITHUB_TOKEN: ${planted.GITHUB_TOKEN}\nPORT: 5432\nDEBUG: true\nEMPTY: null\nHOSTS: [a, b]\nDB: {user: x}\nTLS: yes\n`,
      },
    )
    await writeFile(file, stdout)
    const error = await caught(decrypt(file, {}, deps))
    expect(error.message).toContain(
      'fields PORT is a number, DEBUG is a boolean, EMPTY is null, HOSTS is a list, DB is a map, not a string',
    )
    expect(error.message).not.toContain('5432')
    expectNoPlantedValue(error)
  })

  it('says to run `just tools` when sops is not installed', async () => {
    const file = join(dir, 'roundtrip', 'bootstrap.sops.yaml')
    const empty = join(dir, 'empty-cache')
    await mkdir(empty, { recursive: true })
    // The real run, with neither the tools cache nor PATH holding sops: a real ENOENT.
    vi.stubEnv('PLATFORM_TOOLS_CACHE', empty)
    vi.stubEnv('PATH', empty)
    const error = await caught(decrypt(file, {}, { ...deps, env: { ...process.env } }))
    expect(error.message).toContain('sops is not installed')
    expect(error.message).toContain(file)
    expect(error.hint).toContain('just tools')
    expect(error.exitCode).toBe(127)
  })
})

describe('decryptAhead', () => {
  const decrypts = (record: { args: string[] }[]) =>
    record.filter((call) => call.args[0] === '--decrypt').length

  it('is taken by the first decrypt of the same file, once; the next runs sops again', async () => {
    const file = join(dir, 'ahead.sops.yaml')
    await writeEncrypted(file, { A: 'first' }, [owner.recipient], deps)
    const record: { command: string; args: string[] }[] = []
    const counted: SopsDeps = { ...deps, run: inDir(dir, record) }
    decryptAhead(file, {}, counted)
    expect(await decrypt(file, {}, counted)).toEqual({ A: 'first' })
    expect(decrypts(record)).toBe(1)
    expect(await decrypt(file, {}, counted)).toEqual({ A: 'first' })
    expect(decrypts(record)).toBe(2)
  })

  it('is not taken when the file or the key file changed since, nor by a caller with other deps', async () => {
    const file = join(dir, 'changed.sops.yaml')
    const keyFile = join(dir, 'keys', 'changing.txt')
    await writeKeyFile(keyFile, owner.identity)
    await writeEncrypted(file, { A: 'before' }, [owner.recipient], deps)
    const record: { command: string; args: string[] }[] = []
    const counted: SopsDeps = { run: inDir(dir, record), env: { ...process.env, SOPS_AGE_KEY_FILE: keyFile } }

    decryptAhead(file, {}, counted)
    await writeEncrypted(file, { A: 'after' }, [owner.recipient], deps)
    expect(await decrypt(file, {}, counted)).toEqual({ A: 'after' })
    expect(decrypts(record)).toBe(2)

    decryptAhead(file, {}, counted)
    await writeFile(keyFile, `# the same key, a comment added\n${await readFile(keyFile, 'utf8')}`)
    expect(await decrypt(file, {}, counted)).toEqual({ A: 'after' })
    expect(decrypts(record)).toBe(4)

    decryptAhead(file, {}, counted)
    const other: SopsDeps = { ...counted, run: inDir(dir, record) }
    expect(await decrypt(file, {}, other)).toEqual({ A: 'after' })
    expect(decrypts(record)).toBe(6)
  })

  it('says nothing of a failure until a step takes it, and the step gets the failure explained', async () => {
    const file = join(dir, 'not-mine.sops.yaml')
    await writeEncrypted(file, { A: 'value' }, [owner.recipient], deps)
    const theirs: SopsDeps = { ...deps, env: { ...process.env, SOPS_AGE_KEY_FILE: otherKeyFile } }
    decryptAhead(file, {}, theirs)
    // Long enough for sops to fail: a rejection nobody handled would fail this test run.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const error = await caught(decrypt(file, {}, theirs))
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toContain('not-mine.sops.yaml')
    expect((error as BootstrapError).message).toContain(otherKeyFile)
  })
})

describe('execEnv', () => {
  it('runs a command with the values in its environment; its output is masked', async () => {
    const file = join(dir, 'roundtrip', 'bootstrap.sops.yaml')
    // Shell, not a template: the length of the PEM as the child sees it.
    const script = ['printf "%s|" "$GITHUB_TOKEN" "$', '{#VAULT_CA_CRT}"'].join('')
    const { stdout } = await execEnv(file, ['sh', '-c', script], {}, deps)
    expect(stdout).toBe(`***|${planted.VAULT_CA_CRT.length}|`)
  })

  it('fails with the explained error when no key decrypts the file', async () => {
    const file = join(dir, 'owner-only.sops.yaml')
    const error = await caught(execEnv(file, ['true'], { ageKeyFile: otherKeyFile }, deps))
    expect(error.message).toContain('no available age key decrypts')
  })
})

describe('formatOf', () => {
  it('follows the extension', () => {
    expect(formatOf('a/b.sops.yaml')).toBe('yaml')
    expect(formatOf('b.yml')).toBe('yaml')
    expect(formatOf('b.sops.json')).toBe('json')
    expect(formatOf('.env')).toBe('dotenv')
    expect(() => formatOf('b.ini')).toThrow(BootstrapError)
  })
})
