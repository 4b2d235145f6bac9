import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { KubeConfig } from '@kubernetes/client-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memorySink } from '../../tests/helpers/memory-sink.ts'
import { reportFailure } from '../runner/cli.ts'
import { Logger } from '../runner/log.ts'
import { ApiRefusal, createKube } from './client.ts'

/** An API server that knows no object and refuses every write as a namespace being deleted would. */
let server: Server
let url = ''
beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/api/v1') {
      // Discovery: client-node asks whether the kind is namespaced before it writes.
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(
        JSON.stringify({
          kind: 'APIResourceList',
          groupVersion: 'v1',
          resources: [{ name: 'secrets', namespaced: true, kind: 'Secret', verbs: ['get', 'patch'] }],
        }),
      )
      return
    }
    const status =
      request.method === 'GET'
        ? { code: 404, reason: 'NotFound', message: 'secrets "x" not found' }
        : {
            code: 403,
            reason: 'Forbidden',
            message:
              'secrets "x" is forbidden: unable to create new content in namespace argocd because it is being terminated',
          }
    response.writeHead(status.code, { 'content-type': 'application/json' })
    response.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', ...status }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => new Promise((resolve) => server.close(resolve)))

describe("the API server's refusals", () => {
  it("are the cluster's answer: the request, the status, the server's message and what to do; not a bug", async () => {
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-secret' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    })
    const kube = createKube(kc)
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x', namespace: 'argocd' } }
    const error = await kube.apply(secret).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiRefusal)
    expect((error as ApiRefusal).statusCode).toBe(403)
    expect((error as ApiRefusal).message).toBe(
      'the API server refused to apply Secret/argocd/x (HTTP 403): secrets "x" is forbidden: unable to create new content in namespace argocd because it is being terminated',
    )
    expect((error as ApiRefusal).hint).toMatch(/the namespace is being deleted: wait until it is gone/)
    const sink = memorySink()
    expect(reportFailure(new Logger({ sink }), error)).toBe(1)
    expect(sink.lines.join('\n')).not.toMatch(/bug in platform-bootstrap/)
    expect(
      await kube.get({ apiVersion: 'v1', kind: 'Secret', name: 'x', namespace: 'argocd' }),
    ).toBeUndefined()
  })
})

describe("objects as the API server's JSON", () => {
  const policy = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'np', namespace: 'argocd' },
    spec: { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { a: 'b' } } }] }] },
  }
  let sent: unknown
  let json: Server
  let jsonURL = ''
  beforeAll(async () => {
    json = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk) => (body += chunk))
      request.on('end', () => {
        response.writeHead(200, { 'content-type': 'application/json' })
        if (request.url === '/apis/networking.k8s.io/v1')
          return response.end(
            JSON.stringify({
              kind: 'APIResourceList',
              groupVersion: 'networking.k8s.io/v1',
              resources: [
                { name: 'networkpolicies', namespaced: true, kind: 'NetworkPolicy', verbs: ['get'] },
              ],
            }),
          )
        if (request.method === 'PATCH') sent = JSON.parse(body)
        response.end(JSON.stringify({ ...policy, metadata: { ...policy.metadata, resourceVersion: '1' } }))
      })
    })
    await new Promise<void>((resolve) => json.listen(0, '127.0.0.1', resolve))
    jsonURL = `http://127.0.0.1:${(json.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise((resolve) => json.close(resolve)))

  it('come back with their own field names, and are sent with every field (client-node renames `from` to `_from`)', async () => {
    const kc = new KubeConfig()
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: jsonURL, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-secret' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    })
    const kube = createKube(kc)
    const read = await kube.get({
      apiVersion: policy.apiVersion,
      kind: policy.kind,
      name: 'np',
      namespace: 'argocd',
    })
    expect(read?.spec).toEqual(policy.spec)
    await kube.apply(policy, { before: null })
    expect((sent as typeof policy).spec).toEqual(policy.spec)
  })
})
