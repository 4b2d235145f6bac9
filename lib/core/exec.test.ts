import { describe, expect, it } from 'vitest'
import { BootstrapError, ProcessError } from './errors.ts'
import { run, runStatus } from './exec.ts'
import { MASK, redactor } from './redact.ts'

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected the promise to reject')
}

describe('run', () => {
  it('returns stdout and passes input on stdin', async () => {
    const result = await run('sh', ['-c', 'cat; echo done'], { input: 'from-stdin\n' })
    expect(result.stdout).toBe('from-stdin\ndone\n')
  })

  it('masks a registered secret that the child prints on stderr, and carries the exit code', async () => {
    const secret = 'exec-test-planted-secret-42'
    redactor.add(secret)
    const script = `echo "line one" >&2; echo "line two" >&2; echo "line three" >&2; echo "token=${secret}" >&2; exit 3`
    const error = await rejection(run('sh', ['-c', script], { hint: 'check the token' }))
    expect(error).toBeInstanceOf(ProcessError)
    const failure = error as ProcessError
    expect(failure.code).toBe(3)
    expect(failure.command).toBe('sh -c')
    expect(failure.hint).toBe('check the token')
    expect(failure.stderr).not.toContain(secret)
    expect(failure.stderr).toContain(`token=${MASK}`)
    // The message holds the masked tail: the last three lines, not the first.
    expect(failure.message).toBe(`sh -c failed (exit 3): line two | line three | token=${MASK}`)
    expect(failure.message).not.toContain(secret)
    expect(failure.message).not.toContain('line one')
  })

  it('turns a missing binary into a BootstrapError with exit code 127 and a `just tools` hint', async () => {
    const error = await rejection(run('platform-bootstrap-no-such-binary', ['--version']))
    expect(error).toBeInstanceOf(BootstrapError)
    expect(error).not.toBeInstanceOf(ProcessError)
    const failure = error as BootstrapError
    expect(failure.exitCode).toBe(127)
    expect(failure.message).toContain('platform-bootstrap-no-such-binary was not found')
    expect(failure.hint).toContain('just tools')
  })

  it('reports a timeout as a ProcessError without an exit code', async () => {
    const error = await rejection(run('sh', ['-c', 'exec sleep 5'], { timeoutMs: 100 }))
    expect(error).toBeInstanceOf(ProcessError)
    expect((error as ProcessError).code).toBeUndefined()
    expect((error as ProcessError).message).toContain('timed out after 100 ms')
  })
})

describe('run, interactive', () => {
  it('hands the terminal over: nothing is captured, and a failure still carries its exit code', async () => {
    expect(await run('sh', ['-c', 'exit 0'], { interactive: true })).toEqual({ stdout: '', stderr: '' })
    const error = await rejection(run('sh', ['-c', 'exit 200'], { interactive: true }))
    expect(error).toBeInstanceOf(ProcessError)
    expect((error as ProcessError).code).toBe(200)
    expect((error as ProcessError).stderr).toBe('')
  })
})

describe('runStatus', () => {
  it('returns the exit code and both outputs instead of throwing, stderr masked', async () => {
    const secret = 'exec-test-status-secret-43'
    redactor.add(secret)
    const result = await runStatus('sh', ['-c', `echo out; echo "err ${secret}" >&2; exit 4`])
    expect(result).toEqual({ exitCode: 4, stdout: 'out\n', stderr: `err ${MASK}\n` })
  })

  it('gives the child exactly the env passed, nothing inherited, no tools cache on PATH, stdin closed', async () => {
    const env = { PATH: process.env.PATH, ONLY_THIS: 'yes' }
    const result = await runStatus('sh', ['-c', 'echo "$ONLY_THIS|$HOME|$PATH"; cat'], { env })
    expect(result).toEqual({ exitCode: 0, stdout: `yes||${process.env.PATH}\n`, stderr: '' })
  })

  it('reports a missing binary as exit code 127', async () => {
    expect(await runStatus('platform-bootstrap-no-such-binary', [])).toEqual({
      exitCode: 127,
      stdout: '',
      stderr: 'platform-bootstrap-no-such-binary: command not found',
    })
  })

  it('reports a timeout as a failed exit with a line saying so', async () => {
    const result = await runStatus('sh', ['-c', 'exec sleep 5'], { timeoutMs: 100 })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('sh timed out after 100 ms')
  })
})
