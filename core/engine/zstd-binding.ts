/**
 * zstd-napi's low-level binding (compress into a caller's buffer, reusable contexts). It is a
 * CommonJS module whose exports Node cannot name statically, so it is loaded with require.
 */
import { createRequire } from 'node:module';
import type * as Binding from 'zstd-napi/binding.js';

export const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof Binding;
export type CCtx = Binding.CCtx;
export type DCtx = Binding.DCtx;
