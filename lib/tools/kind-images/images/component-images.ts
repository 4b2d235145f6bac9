import { join } from 'node:path'
import { versions } from '../../../core/versions.ts'
import { selectTools, toolDir } from '../../catalogue.ts'
import type { Part } from '../build/parts.ts'
import { unpackRoot } from '../build/rootfs.ts'
import { ROOT_TAR } from '../build/roots.ts'
import { archiveFileName } from '../manifest.ts'
import { componentImages, components } from '../recipe.ts'
import { archiveImage, busyboxRoot, installBinary, staticRoot } from './images.ts'

/**
 * The images kubeadm and kind's manifests name, as `docker save` tarballs to preload into the
 * node's containerd: the control plane from the tools cache, the rest from the parts built here.
 */

export interface ComponentInputs {
  /** Part folders by name: containerd..., see ensure.ts. */
  dirs: {
    kubernetesNode: string
    etcd: string
    coredns: string
    pause: string
    localPath: string
    busybox: string
    proxyRoot: string
  }
  storageImages: { provisioner: string; helper: string }
}

const PATH_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' }

export function componentImagesList(storage: ComponentInputs['storageImages']): string[][] {
  return [
    [componentImages.apiserver],
    [componentImages.controllerManager],
    [componentImages.scheduler],
    [componentImages.proxy],
    [componentImages.etcd],
    [componentImages.coredns],
    [...componentImages.pause],
    [storage.provisioner],
    [storage.helper],
  ]
}

export function componentImagesPart(inputs: ComponentInputs): Part {
  const files = componentImagesList(inputs.storageImages).map((names) => archiveFileName(names[0] as string))
  const controlPlane = toolDir(
    selectTools(['kubernetes'])[0] ?? { name: 'kubernetes', version: versions.kubernetes },
  )
  return {
    name: 'component-images',
    version: components.kubernetes,
    inputs: { images: componentImagesList(inputs.storageImages), dirs: inputs.dirs, controlPlane },
    files,
    note: `${files.length} component image archives (docker import + save)`,
    build: async (job) => {
      const { dirs, storageImages } = inputs
      const at = (name: string) => join(job.work, 'roots', name)
      const save = (names: string[], root: string, config: Parameters<typeof archiveImage>[1]['config']) =>
        archiveImage(job, { names, root, config }, join(job.stage, archiveFileName(names[0] as string)))
      for (const cmd of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
        const image = `registry.k8s.io/${cmd}:${versions.kubernetes}`
        await save([image], staticRoot(at(cmd), { [cmd]: join(controlPlane, cmd) }), {
          env: PATH_ENV,
          entrypoint: [`/usr/local/bin/${cmd}`],
        })
      }
      // kube-proxy runs iptables: a small Debian root.
      const proxy = at('kube-proxy')
      await unpackRoot(job, join(dirs.proxyRoot, ROOT_TAR), proxy)
      installBinary(proxy, 'kube-proxy', join(dirs.kubernetesNode, 'kube-proxy'))
      await save([componentImages.proxy], proxy, { env: PATH_ENV, entrypoint: ['/usr/local/bin/kube-proxy'] })
      await save([componentImages.etcd], staticRoot(at('etcd'), { etcd: join(dirs.etcd, 'etcd') }), {
        env: PATH_ENV,
        entrypoint: ['/usr/local/bin/etcd'],
      })
      await save(
        [componentImages.coredns],
        staticRoot(at('coredns'), { coredns: join(dirs.coredns, 'coredns') }, '.'),
        {
          env: PATH_ENV,
          entrypoint: ['/coredns'],
        },
      )
      await save(
        [...componentImages.pause],
        staticRoot(at('pause'), { pause: join(dirs.pause, 'pause') }, '.'),
        {
          user: '65535:65535',
          entrypoint: ['/pause'],
        },
      )
      const provisioner = staticRoot(at('local-path'), {
        'local-path-provisioner': join(dirs.localPath, 'local-path-provisioner'),
      })
      await save([storageImages.provisioner], provisioner, {
        env: PATH_ENV,
        entrypoint: ['/usr/local/bin/local-path-provisioner'],
      })
      // kind's helper pod runs sh, mkdir, rm: busybox.
      await save(
        [storageImages.helper],
        await busyboxRoot(job, join(dirs.busybox, 'busybox'), at('helper')),
        {
          env: { PATH: '/bin' },
          cmd: ['sh'],
        },
      )
      return `${files.length} images: control plane from ${controlPlane}, the rest built here`
    },
  }
}
