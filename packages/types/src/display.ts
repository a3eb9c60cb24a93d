/** Longest text {@link displayText} returns by default (characters, before the ellipsis). */
export const DEFAULT_DISPLAY_LENGTH = 200;

// C0 and C1 controls, DEL, and the bidirectional overrides/isolates and other invisible format characters that can
// make a terminal or a log viewer show something other than what the bytes say.
function isUnsafe(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x061c ||
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x206f) ||
    code === 0xfeff ||
    (code >= 0xfff9 && code <= 0xfffb)
  );
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeOne(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default: {
      const code = ch.codePointAt(0) ?? 0;
      return code <= 0xff
        ? `\\x${code.toString(16).padStart(2, '0')}`
        : `\\u${code.toString(16).padStart(4, '0')}`;
    }
  }
}

/**
 * Makes text a plugin controls (its name, description, author, log lines, error messages) safe to show a person:
 * every control character, terminal escape (`ESC`), line separator and bidirectional override is escaped visibly
 * (`\n`, `\x1b`, `\u202e`), lone surrogates are replaced, and the result is cut to `maxLength` characters with an
 * ellipsis. One line in, one line out: nothing it returns can start a new log line or move a terminal's cursor.
 *
 * @example
 * ```ts
 * displayText('evil\n[host] ok \u001b[2J'); // 'evil\\n[host] ok \\x1b[2J'
 * ```
 */
export function displayText(value: unknown, maxLength: number = DEFAULT_DISPLAY_LENGTH): string {
  const text = typeof value === 'string' ? value : String(value);
  const limit = Number.isSafeInteger(maxLength) && maxLength > 0 ? maxLength : DEFAULT_DISPLAY_LENGTH;
  // Cut first (bounded work on huge inputs), escape, then cut again: escaping can lengthen the text.
  const head = text.length > limit * 4 ? text.slice(0, limit * 4) : text;
  let escaped = '';
  for (const ch of head.replace(LONE_SURROGATE, '\ufffd'))
    escaped += isUnsafe(ch.codePointAt(0) ?? 0) ? escapeOne(ch) : ch;
  const truncated = escaped.length > limit || head.length < text.length;
  return truncated ? `${escaped.slice(0, limit)}…` : escaped;
}
