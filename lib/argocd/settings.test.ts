import { ConfigMap, Container, EnvVar, Volume, VolumeMount } from 'kubernetes-models/v1'
import { describe, expect, it } from 'vitest'
import { BootstrapError } from '../core/errors.ts'
import {
  ageSecret,
  argocdCm,
  argocdCmdParams,
  assertKsopsInstallable,
  gitConfigMap,
  helmValues,
  ksopsPluginPath,
  ksopsPluginRelPath,
  repoServerEnv,
  repoServerPaths,
} from './settings.ts'

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML and chart values are walked freely; the schemas and assertions check them
type Doc = Record<string, any>

/** An image that has `ksops install`; the pin in lib/core/versions.ts is checked by assertKsopsInstallable. */
const IMAGE = 'viaductoss/ksops:v4.5.1'
const values = helmValues({ ksopsImage: IMAGE }) as Doc
const repo = values.repoServer as { initContainers: Doc[]; volumes: Doc[]; volumeMounts: Doc[]; env: Doc[] }

describe('helmValues: the argo-cd chart values', () => {
  it('puts kustomize.buildOptions under configs.cm, not configs.params', () => {
    expect(values.configs.cm['kustomize.buildOptions']).toBe('--enable-alpha-plugins --enable-exec')
    expect(values.configs.params).not.toHaveProperty('kustomize.buildOptions')
    expect(values.configs.params['server.insecure']).toBe(true)
    // The chart renders every configs.params key into argocd-cmd-params-cm (argo-cd.config.params).
    expect(values.configs.params['controller.sync.wave.delay.seconds']).toBe('1')
  })

  it('restores Application health in argocd-cm, so the App of Apps waits wave by wave', () => {
    expect(values.configs.cm['resource.customizations.health.argoproj.io_Application']).toMatch(
      /obj\.status\.health\.status/,
    )
  })

  it('runs the KSOPS init containers unprivileged: no root, no capability, no privilege escalation', () => {
    expect(repo.initContainers.length).toBeGreaterThan(0)
    for (const container of repo.initContainers) {
      expect(container.image).toBe(IMAGE)
      expect(container.securityContext).toEqual({
        runAsNonRoot: true,
        runAsUser: 65534,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      })
      expect(() => new Container(container as Container).validate()).not.toThrow()
    }
  })

  it('lays KSOPS down twice in custom-tools: as ksops and as plugin/viaduct.ai/v1/ksops/ksops', () => {
    // `ksops install <dir>` writes <dir>/ksops; where <dir> lands in the volume depends on the subPath.
    const installed = repo.initContainers.map((container) => {
      expect(container.command.slice(0, 2)).toEqual(['/usr/local/bin/ksops', 'install'])
      const dest = container.command[2] as string
      const mount = container.volumeMounts.find(
        (m: Doc) => m.name === 'custom-tools' && dest.startsWith(m.mountPath),
      )
      const inVolume = [mount.subPath, dest.slice(mount.mountPath.length).replace(/^\//, ''), 'ksops'].filter(
        Boolean,
      )
      return inVolume.join('/')
    })
    expect(installed.sort()).toEqual(['ksops', 'plugin/viaduct.ai/v1/ksops/ksops'])
  })

  it('declares the custom-tools emptyDir and the age key Secret volume with mode 0444', () => {
    expect(repo.volumes).toContainEqual({ name: 'custom-tools', emptyDir: {} })
    expect(repo.volumes).toContainEqual({
      name: 'sops-age-key',
      secret: { secretName: 'ksops-age-key', defaultMode: 292 },
    })
    for (const volume of repo.volumes) expect(() => new Volume(volume as Volume).validate()).not.toThrow()
  })

  it('mounts the binary, the plugin tree and the age key where KSOPS and sops look for them, and the git config', () => {
    expect(repo.volumeMounts).toEqual([
      { name: 'custom-tools', mountPath: '/usr/local/bin/ksops', subPath: 'ksops' },
      { name: 'custom-tools', mountPath: '/home/argocd/ksops-plugin', subPath: 'plugin' },
      { name: 'sops-age-key', mountPath: '/home/argocd/.config/sops/age', readOnly: true },
      { name: 'git-config', mountPath: '/app/config/git', readOnly: true },
    ])
    for (const mount of repo.volumeMounts)
      expect(() => new VolumeMount(mount as VolumeMount).validate()).not.toThrow()
    const volumes = new Set(repo.volumes.map((v) => v.name))
    for (const container of [...repo.initContainers, { volumeMounts: repo.volumeMounts }])
      for (const mount of container.volumeMounts) expect(volumes).toContain(mount.name)
  })

  it('sets the three env vars KSOPS needs, and the git config', () => {
    expect(repo.env).toEqual([
      { name: 'SOPS_AGE_KEY_FILE', value: '/home/argocd/.config/sops/age/age.agekey' },
      { name: 'XDG_CONFIG_HOME', value: '/home/argocd/.config' },
      { name: 'KUSTOMIZE_PLUGIN_HOME', value: '/home/argocd/ksops-plugin' },
      { name: 'GIT_CONFIG_GLOBAL', value: '/app/config/git/gitconfig' },
    ])
    for (const env of repo.env) expect(() => new EnvVar(env as EnvVar).validate()).not.toThrow()
  })

  it('agrees with itself: the env points at what the mounts provide', () => {
    const env = Object.fromEntries(repo.env.map((e) => [e.name, e.value as string]))
    const ageMount = repo.volumeMounts.find((m) => m.name === 'sops-age-key') as Doc
    expect(env.SOPS_AGE_KEY_FILE).toBe(`${ageMount.mountPath}/${ageSecret.key}`)
    const pluginMount = repo.volumeMounts.find((m) => m.mountPath === env.KUSTOMIZE_PLUGIN_HOME) as Doc
    // What kustomize resolves, inside the volume: the copy the second init container made.
    expect(`${pluginMount.subPath}/${ksopsPluginRelPath}`).toBe('plugin/viaduct.ai/v1/ksops/ksops')
    expect(ksopsPluginPath(env.KUSTOMIZE_PLUGIN_HOME as string)).toBe(
      '/home/argocd/ksops-plugin/viaduct.ai/v1/ksops/ksops',
    )
  })

  it('mounts the served repositories read-only only when asked (dev on kind)', () => {
    expect(repo.volumes.some((v) => v.hostPath)).toBe(false)
    const dev = (helmValues({ ksopsImage: IMAGE, servedRepoNames: ['platform'] }) as Doc).repoServer
    expect(dev.volumes).toContainEqual({
      name: 'served-repos',
      hostPath: { path: '/gitops-repos', type: 'Directory' },
    })
    expect(dev.volumeMounts).toContainEqual({
      name: 'served-repos',
      mountPath: '/gitops-repos',
      readOnly: true,
    })
  })

  it('gives the repo-server a global git config that trusts the served repositories (it runs as uid 999)', () => {
    const dev = helmValues({
      ksopsImage: IMAGE,
      namespace: 'argocd',
      servedRepoNames: ['platform', 'tenant-a'],
    }) as Doc
    const configMap = (dev.extraObjects as Doc[])[0] as Doc
    expect(configMap).toMatchObject({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: gitConfigMap.name, namespace: 'argocd' },
    })
    expect(() => new ConfigMap(configMap as ConfigMap).validate()).not.toThrow()
    const gitconfig = configMap.data[gitConfigMap.key] as string
    expect(gitconfig.split('\n').filter((line) => line.startsWith('\t'))).toEqual([
      '\tdirectory = /gitops-repos/platform',
      '\tdirectory = /gitops-repos/platform/.git',
      '\tdirectory = /gitops-repos/tenant-a',
      '\tdirectory = /gitops-repos/tenant-a/.git',
    ])
    // Mounted as a directory, named by GIT_CONFIG_GLOBAL: Argo CD runs git with HOME=/dev/null.
    const volume = dev.repoServer.volumes.find((v: Doc) => v.configMap?.name === gitConfigMap.name)
    const mount = dev.repoServer.volumeMounts.find((m: Doc) => m.name === volume.name)
    expect(mount).toEqual({ name: volume.name, mountPath: repoServerPaths.gitConfigDir, readOnly: true })
    const env = Object.fromEntries(dev.repoServer.env.map((e: Doc) => [e.name, e.value]))
    expect(env.GIT_CONFIG_GLOBAL).toBe(`${mount.mountPath}/${gitConfigMap.key}`)
  })

  it('makes the git config ConfigMap even with nothing to serve (staging, prod): the mount must exist', () => {
    const values = helmValues({ ksopsImage: IMAGE }) as Doc
    expect(values.extraObjects[0].data[gitConfigMap.key]).toContain('[safe]')
    expect(values.extraObjects[0].data[gitConfigMap.key]).not.toMatch(/directory =/)
  })
})

describe('the settings the local provider reads', () => {
  it('describes argocd-cm and argocd-cmd-params-cm as strings', () => {
    expect(argocdCm['kustomize.buildOptions']).toBe('--enable-alpha-plugins --enable-exec')
    expect(argocdCmdParams).toEqual({ 'server.insecure': 'true', 'controller.sync.wave.delay.seconds': '1' })
  })

  it('builds the repo-server env for any layout', () => {
    const paths = {
      configHome: '/s/config',
      ageKeyDir: '/s/age',
      pluginHome: '/s/plugins',
      gitConfigDir: '/s/git',
      servedRepos: '/r',
    }
    expect(repoServerEnv(paths)).toEqual({
      SOPS_AGE_KEY_FILE: '/s/age/age.agekey',
      XDG_CONFIG_HOME: '/s/config',
      KUSTOMIZE_PLUGIN_HOME: '/s/plugins',
      GIT_CONFIG_GLOBAL: '/s/git/gitconfig',
    })
  })

  it('names the age key Secret', () => {
    expect(ageSecret).toEqual({ secret: 'ksops-age-key', key: 'age.agekey' })
  })
})

describe('assertKsopsInstallable', () => {
  it('accepts images with `ksops install` (v4.5.0 and later)', () => {
    for (const image of [
      'viaductoss/ksops:v4.5.0',
      'viaductoss/ksops:v4.5.1',
      'quay.io/viaductoss/ksops:v5.0.0',
      'viaductoss/ksops:v4.5.1@sha256:abc',
    ])
      expect(() => assertKsopsInstallable(image), image).not.toThrow()
  })

  it('refuses v4.4.0 (distroless, no shell, no install) and unpinned tags, saying what to pin', () => {
    for (const image of ['viaductoss/ksops:v4.4.0', 'viaductoss/ksops:latest', 'viaductoss/ksops']) {
      expect(() => assertKsopsInstallable(image), image).toThrow(BootstrapError)
      const error = (() => {
        try {
          helmValues({ ksopsImage: image })
        } catch (e) {
          return e as BootstrapError
        }
      })()
      expect(error?.hint).toMatch(/viaductoss\/ksops:v4\.5\.1/)
    }
  })
})
