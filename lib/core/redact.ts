/**
 * Masks secret values in any text before it is printed or thrown. Every value resolved
 * during a run is registered here, and every line of output passes through `mask`.
 * Also masks the forms a value takes on its way through tools: base64 (Secret data)
 * and, for multi-line values such as PEM keys, each long line on its own.
 */
export const MASK = '***'
/**
 * Shorter values are not registered: masked wherever they appear as substrings they would mangle
 * ordinary words and paths ("root" in /root/.cache, `true` in a field name), break the commands the
 * run prints, and the mask itself would point at them. No generated or real token is this short;
 * a dev server's root token is. Callers that register such a value say so (see `add`).
 */
export const MIN_SECRET_LENGTH = 8

export class Redactor {
  private readonly needles = new Set<string>()

  /** Registers a value and the forms it takes; false when it is too short to mask (nothing registered). */
  add(value: string | undefined): boolean {
    if (!value) return true
    if (value.trim().length < MIN_SECRET_LENGTH) return false
    for (const form of formsOf(value)) if (form.length >= MIN_SECRET_LENGTH) this.needles.add(form)
    return true
  }

  addAll(values: Iterable<string | undefined>): void {
    for (const value of values) this.add(value)
  }

  mask(text: string): string {
    if (this.needles.size === 0 || !text) return text
    // Longest first, so a value that contains another is masked whole.
    let out = text
    for (const needle of [...this.needles].sort((a, b) => b.length - a.length)) {
      if (out.includes(needle)) out = out.split(needle).join(MASK)
    }
    return out
  }

  get size(): number {
    return this.needles.size
  }
}

function formsOf(value: string): string[] {
  const forms = [value, value.trim(), Buffer.from(value).toString('base64')]
  if (value.includes('\n')) {
    for (const line of value.split('\n')) if (line.trim().length >= 16) forms.push(line.trim())
  }
  return forms
}

/** The process-wide redactor: secret values are registered once, masked everywhere. */
export const redactor = new Redactor()
