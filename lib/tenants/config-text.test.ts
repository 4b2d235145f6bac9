import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { BootstrapError } from '../core/errors.ts'
import { addMapEntry, addSeqItem, removeMapEntry, removeSeqItem } from './config-text.ts'

const TEXT = `# a comment that stays
gitops:
  tenantRepos:
    tenant-a:
      url: https://example.org/a.git # kept
      username: bot
  include: [platform/*, tenants/*]
secrets:
  fields:
    - one
    - two
data: { key: value }
`

describe('config.yaml edited in its text', () => {
  it('adds an entry and an item after the last ones, and removing them gives the same bytes back', () => {
    let text = addMapEntry(TEXT, 'c.yaml', ['gitops', 'tenantRepos'], 'team-b', {
      url: 'https://example.org/b.git',
      username: 'bot',
    })
    text = addSeqItem(text, 'c.yaml', ['secrets', 'fields'], 'git_token_team_b')
    expect(parse(text).gitops.tenantRepos['team-b']).toEqual({
      url: 'https://example.org/b.git',
      username: 'bot',
    })
    expect(parse(text).secrets.fields).toEqual(['one', 'two', 'git_token_team_b'])
    for (const line of TEXT.split('\n')) expect(text.split('\n')).toContain(line)
    text = removeSeqItem(text, 'c.yaml', ['secrets', 'fields'], 'git_token_team_b')
    expect(removeMapEntry(text, 'c.yaml', ['gitops', 'tenantRepos'], 'team-b')).toBe(TEXT)
  })

  it('refuses a flow map it cannot add a line to, saying how to write it', () => {
    const error = (() => {
      try {
        addMapEntry('gitops:\n  tenantRepos: {}\n', 'c.yaml', ['gitops', 'tenantRepos'], 'b', { url: 'u' })
      } catch (e) {
        return e
      }
    })()
    expect(error).toBeInstanceOf(BootstrapError)
    expect((error as BootstrapError).message).toMatch(/c\.yaml: gitops\.tenantRepos is not a block map/)
    expect((error as BootstrapError).hint).toMatch(/one entry per line/)
  })
})
