import { PluginError } from './errors.js';

const MAX_COMPONENT = 0xffff_ffff;
// Semver 2.0.0 core; pre-release identifiers: numeric without leading zeros, or alphanumerics with hyphens.
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const MAX_VERSION_LENGTH = 256;

/**
 * A strict semantic version (`MAJOR.MINOR.PATCH[-pre][+build]`, semver 2.0.0), components up to 2^32-1.
 *
 * Ordering follows semver precedence: build metadata is ignored, a pre-release sorts before its release.
 */
export class PluginVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** Pre-release identifiers (`['rc', 1]` for `-rc.1`); empty for a release. */
  readonly prerelease: readonly (string | number)[];
  /** Build metadata identifiers; ignored by comparisons. */
  readonly build: readonly string[];

  constructor(
    major: number,
    minor: number,
    patch: number,
    prerelease: readonly (string | number)[] = [],
    build: readonly string[] = [],
  ) {
    for (const [field, n] of [
      ['major', major],
      ['minor', minor],
      ['patch', patch],
    ] as const) {
      if (!Number.isInteger(n) || n < 0 || n > MAX_COMPONENT) {
        throw new PluginError(
          'InvalidVersion',
          `version ${field} must be an integer in 0..${MAX_COMPONENT}, got ${n}`,
        );
      }
    }
    this.major = major;
    this.minor = minor;
    this.patch = patch;
    this.prerelease = Object.freeze([...prerelease]);
    this.build = Object.freeze([...build]);
    Object.freeze(this);
  }

  /**
   * Parses a strict semver string.
   * @throws PluginError `InvalidVersion` for `1.2`, `01.2.3`, `1.2.3.4`, `v1.2.3`, components over 2^32-1, …
   */
  static parse(input: string): PluginVersion {
    if (typeof input !== 'string') {
      throw new PluginError('InvalidVersion', `version must be a string, got ${typeof input}`);
    }
    if (input.length > MAX_VERSION_LENGTH) {
      throw new PluginError('InvalidVersion', `version is longer than ${MAX_VERSION_LENGTH} characters`);
    }
    const m = SEMVER.exec(input);
    if (!m) {
      throw new PluginError(
        'InvalidVersion',
        `invalid version ${JSON.stringify(input)}: expected MAJOR.MINOR.PATCH (e.g. 1.2.3), no leading zeros or "v" prefix`,
      );
    }
    const num = (s: string, field: string): number => {
      const n = Number(s);
      if (!Number.isSafeInteger(n) || n > MAX_COMPONENT) {
        throw new PluginError(
          'InvalidVersion',
          `invalid version ${JSON.stringify(input)}: ${field} exceeds ${MAX_COMPONENT}`,
        );
      }
      return n;
    };
    const pre =
      m[4] === undefined
        ? []
        : m[4].split('.').map((id) => (/^\d+$/.test(id) ? num(id, 'pre-release number') : id));
    const build = m[5] === undefined ? [] : m[5].split('.');
    return new PluginVersion(num(m[1]!, 'major'), num(m[2]!, 'minor'), num(m[3]!, 'patch'), pre, build);
  }

  /**
   * {@link PluginVersion.parse} under the Rust API reference's name (`PluginVersion::from_string`).
   * @throws PluginError `InvalidVersion`.
   */
  static fromString(input: string): PluginVersion {
    return PluginVersion.parse(input);
  }

  /** Like {@link PluginVersion.parse} but returns `undefined` instead of throwing. */
  static tryParse(input: string): PluginVersion | undefined {
    try {
      return PluginVersion.parse(input);
    } catch {
      return undefined;
    }
  }

  /** True when `input` is a valid strict semver string. */
  static isValid(input: string): boolean {
    return PluginVersion.tryParse(input) !== undefined;
  }

  /** Semver precedence: negative when `a < b`, 0 when equal (build ignored), positive when `a > b`. */
  static compare(a: PluginVersion | string, b: PluginVersion | string): number {
    const x = typeof a === 'string' ? PluginVersion.parse(a) : a;
    const y = typeof b === 'string' ? PluginVersion.parse(b) : b;
    return x.compare(y);
  }

  /** See {@link PluginVersion.compare}. */
  compare(other: PluginVersion): number {
    if (this.major !== other.major) return this.major < other.major ? -1 : 1;
    if (this.minor !== other.minor) return this.minor < other.minor ? -1 : 1;
    if (this.patch !== other.patch) return this.patch < other.patch ? -1 : 1;
    const a = this.prerelease;
    const b = other.prerelease;
    if (a.length === 0 && b.length === 0) return 0;
    if (a.length === 0) return 1; // a release sorts after its pre-releases
    if (b.length === 0) return -1;
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const p = a[i];
      const q = b[i];
      if (p === undefined) return -1;
      if (q === undefined) return 1;
      if (p === q) continue;
      if (typeof p === 'number' && typeof q === 'number') return p < q ? -1 : 1;
      if (typeof p === 'number') return -1;
      if (typeof q === 'number') return 1;
      return p < q ? -1 : 1;
    }
    return 0;
  }

  /** Semver equality (build metadata ignored). */
  equals(other: PluginVersion): boolean {
    return this.compare(other) === 0;
  }

  /** True for a pre-release (`1.0.0-rc.1`). */
  get isPrerelease(): boolean {
    return this.prerelease.length > 0;
  }

  /** The canonical string form; `PluginVersion.parse(v.toString())` equals `v`. */
  toString(): string {
    let s = `${this.major}.${this.minor}.${this.patch}`;
    if (this.prerelease.length > 0) s += `-${this.prerelease.join('.')}`;
    if (this.build.length > 0) s += `+${this.build.join('.')}`;
    return s;
  }

  toJSON(): string {
    return this.toString();
  }
}
