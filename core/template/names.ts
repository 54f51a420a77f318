/** Upper-cases a name and applies the ONE_ prefix rule (SPEC.md 1.3, row 16). */
export function normaliseName(original: string): string {
  const needsPrefix = !/^[A-Za-z_]/.test(original) || original.startsWith('XML');
  const upper = original.toUpperCase();
  return needsPrefix ? `ONE_${upper}` : upper;
}
