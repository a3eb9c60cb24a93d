import fs from 'node:fs';
import path from 'node:path';
import { openPathHandle } from '@plugward/sandbox-common';
import type { PathRule } from './plan.js';

/** The launcher's fd of the first rule's handle; the others follow in rule order (after the plan and status fds). */
export const FIRST_RULE_FD = 6;

/**
 * Opens the object of every path rule once, in the host, as an `O_PATH` handle ({@link openPathHandle}: no symbolic
 * link followed), and points each rule at the launcher's fd of its handle (`rule.fd`, from {@link FIRST_RULE_FD}).
 * Landlock rules attach to objects: the launcher adds them on these handles instead of opening the paths again by
 * name, so a granted folder swapped for a symbolic link (or hidden by a mount) after this open changes nothing.
 * `binds` (the config's bind sources, a plugin's grants) are opened as given — a symbolic link on their way is
 * refused; the host's own paths (node, its libraries, system files) by their real path. Returns the host's fds, to
 * pass in that order and close once the launcher started; on a failure closes what it opened and throws
 * `InvalidArgument`.
 */
export function openRuleHandles(rules: PathRule[], binds: readonly string[]): number[] {
  const asGiven = new Set(binds.map((b) => path.normalize(b)));
  const fds: number[] = [];
  try {
    for (const rule of rules) {
      const p = asGiven.has(path.normalize(rule.path)) ? rule.path : fs.realpathSync(rule.path);
      fds.push(openPathHandle(p));
      rule.fd = FIRST_RULE_FD + fds.length - 1;
    }
  } catch (e) {
    for (const fd of fds) fs.closeSync(fd);
    throw e;
  }
  return fds;
}
