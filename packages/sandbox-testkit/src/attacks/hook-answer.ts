import { withTimeout } from '../scene.js';

const dec = new TextDecoder();

/**
 * What a host call of a hook answered, as text: the output decoded, or `ERR:<code> <message>` when it failed or took
 * longer than 10 s (the attacks compare the answer with what the trusted handlers alone would give).
 */
export async function hookAnswer(call: Promise<Uint8Array>): Promise<string> {
  try {
    return dec.decode(await withTimeout(call, 10_000, 'hook call'));
  } catch (e) {
    return `ERR:${(e as { code?: string }).code ?? ''} ${(e as Error).message.slice(0, 60)}`;
  }
}
