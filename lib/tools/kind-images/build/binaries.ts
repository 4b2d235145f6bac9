import { cpSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  buildEtcd,
  buildKubernetesCommands,
  downloadModule,
  initWrapperModule,
  requireGo,
} from '../../build/go-build.ts'
import { type Job, step } from '../../job.ts'
import {
  CNI_PLUGINS,
  CONTAINERD_TAGS,
  components,
  FILES_DIR,
  folderContents,
  KSOPS_STANDIN_DIR,
  NODE_K8S_CMDS,
} from '../recipe.ts'
import type { Part } from './parts.ts'

/**
 * The node's binaries, each built from the Go module proxy with CGO off (GOPROXY is the proxy
 * alone, see context.ts), and pause from a small C file with `gcc -static`.
 */

const GO_ENV = { CGO_ENABLED: '0', GOWORK: 'off' }

/** A module's own source, copied out of the (read-only) module cache so its go.mod and go.sum apply. */
async function moduleSource(job: Job, moduleAtVersion: string): Promise<string> {
  const info = await downloadModule(job, moduleAtVersion)
  const dir = join(job.work, 'src')
  await step(job, 'cp', ['-r', info.Dir, dir])
  await step(job, 'chmod', ['-R', 'u+w', dir])
  return dir
}

async function goBuild(job: Job, cwd: string, args: string[]): Promise<void> {
  await step(job, 'go', ['build', '-mod=mod', '-trimpath', ...args], { cwd, env: GO_ENV })
}

function goPart(
  name: string,
  version: string,
  files: string[],
  note: string,
  run: (job: Job) => Promise<string>,
): Part {
  return {
    name,
    version,
    files,
    note,
    build: async (job) => {
      await requireGo(job)
      return run(job)
    },
  }
}

export function containerdPart(): Part {
  const v = components.containerd
  const bins = ['containerd', 'containerd-shim-runc-v2', 'ctr']
  return goPart('containerd', v, bins, 'go build containerd, shim, ctr (~2 min cold)', async (job) => {
    const src = await moduleSource(job, `github.com/containerd/containerd/v2@${v}`)
    const pkg = 'github.com/containerd/containerd/v2/version'
    const ldflags = `-s -w -X ${pkg}.Version=${v} -X ${pkg}.Revision=module-proxy -X ${pkg}.Package=github.com/containerd/containerd/v2`
    await goBuild(job, src, [
      `-tags=${[...CONTAINERD_TAGS, 'urfave_cli_no_docs'].join(' ')}`,
      `-ldflags=${ldflags}`,
      '-o',
      `${job.stage}/`,
      ...bins.map((bin) => `./cmd/${bin}`),
    ])
    return `github.com/containerd/containerd/v2@${v} (tags ${CONTAINERD_TAGS.join(' ')})`
  })
}

export function crictlPart(): Part {
  const v = components.crictl
  return goPart('crictl', v, ['crictl'], 'go build crictl (~1.5 min cold)', async (job) => {
    const src = await moduleSource(job, `sigs.k8s.io/cri-tools@${v}`)
    await goBuild(job, src, [
      `-ldflags=-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${v}`,
      '-o',
      join(job.stage, 'crictl'),
      './cmd/crictl',
    ])
    return `sigs.k8s.io/cri-tools@${v}`
  })
}

export function cniPart(): Part {
  const v = components.cniPlugins
  const names = CNI_PLUGINS.map((p) => p.split('/')[1] as string)
  return goPart(
    'cni-plugins',
    v,
    names,
    `go build CNI plugins ${names.join(' ')} (~20 s cold)`,
    async (job) => {
      const src = await moduleSource(job, `github.com/containernetworking/plugins@${v}`)
      const stamp = `-ldflags=-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=${v}`
      for (const plugin of CNI_PLUGINS) {
        const name = plugin.split('/')[1] as string
        await goBuild(job, src, [stamp, '-o', join(job.stage, name), `./plugins/${plugin}`])
      }
      return `github.com/containernetworking/plugins@${v}: ${names.join(' ')}`
    },
  )
}

export function etcdPart(): Part {
  return goPart('etcd', components.etcd, ['etcd'], 'go build etcd (~1 min cold)', buildEtcd)
}

export function corednsPart(): Part {
  const v = components.coredns
  const main = readFileSync(join(FILES_DIR, 'coredns-main.go'), 'utf8')
  return {
    ...goPart(
      'coredns',
      v,
      ['coredns'],
      "go build CoreDNS with kubeadm's plugins (~2.5 min cold)",
      async (job) => {
        const mod = await initWrapperModule(job)
        cpSync(join(FILES_DIR, 'coredns-main.go'), join(mod, 'main.go'))
        await step(job, 'go', ['get', `github.com/coredns/coredns@${v}`], { cwd: mod, env: GO_ENV })
        await step(job, 'go', ['mod', 'tidy'], { cwd: mod, env: GO_ENV })
        await goBuild(job, mod, [
          `-ldflags=-s -w -X github.com/coredns/coredns/coremain.GitCommit=${v}`,
          '-o',
          join(job.stage, 'coredns'),
          '.',
        ])
        return `wrapper main over github.com/coredns/coredns@${v} (lib/tools/kind-images/files/coredns-main.go)`
      },
    ),
    inputs: main,
  }
}

export function localPathPart(): Part {
  const v = components.localPathProvisioner
  return goPart(
    'local-path-provisioner',
    v,
    ['local-path-provisioner'],
    'go build (~2 min cold)',
    async (job) => {
      const src = await moduleSource(job, `github.com/rancher/local-path-provisioner@${v}`)
      await goBuild(job, src, [
        `-ldflags=-s -w -X main.VERSION=${v}`,
        '-o',
        join(job.stage, 'local-path-provisioner'),
        '.',
      ])
      return `github.com/rancher/local-path-provisioner@${v}`
    },
  )
}

/** kubeadm, kubelet, kube-proxy: the same wrapper module as the tools cache's control plane. */
export function kubernetesNodePart(): Part {
  return goPart(
    'kubernetes-node',
    components.kubernetes,
    NODE_K8S_CMDS,
    `go build ${NODE_K8S_CMDS.join(', ')} (~3 min; shares the Go build cache with the control plane)`,
    (job) => buildKubernetesCommands(job, NODE_K8S_CMDS, job.stage),
  )
}

/** The KSOPS STAND-IN (not KSOPS): lib/tools/kind-images/ksops-standin. */
export function ksopsStandinPart(): Part {
  return {
    ...goPart(
      'ksops-standin',
      components.sops,
      ['ksops'],
      'go build the KSOPS stand-in over sops (~2 min cold)',
      async (job) => {
        const mod = join(job.work, 'ksops-standin')
        mkdirSync(mod)
        cpSync(KSOPS_STANDIN_DIR, mod, { recursive: true })
        await step(job, 'go', ['build', '-trimpath', '-ldflags=-s -w', '-o', join(job.stage, 'ksops'), '.'], {
          cwd: mod,
          env: GO_ENV,
        })
        return `STAND-IN, not KSOPS: lib/tools/kind-images/ksops-standin over github.com/getsops/sops/v3@${components.sops}`
      },
    ),
    inputs: folderContents(KSOPS_STANDIN_DIR),
  }
}

/** pause: what holds a pod's namespaces; a static C program. */
export function pausePart(): Part {
  const source = join(FILES_DIR, 'pause.c')
  return {
    name: 'pause',
    version: 'c',
    inputs: readFileSync(source, 'utf8'),
    files: ['pause'],
    note: 'gcc -static pause.c',
    build: async (job) => {
      await step(job, 'gcc', ['-static', '-O2', '-s', '-o', join(job.stage, 'pause'), source])
      return 'gcc -static lib/tools/kind-images/files/pause.c'
    },
  }
}
