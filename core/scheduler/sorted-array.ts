/**
 * Insert into and remove from an array kept sorted by a comparator, by binary search. The arrays
 * the dispatch index keeps are small (the jobs with work on one host, the ready VMs of one job on
 * one host), so a splice is cheaper than a balanced tree and keeps the first element at [0].
 */

/** The first index whose element does not go before `item`. */
function lowerBound<T>(arr: readonly T[], item: T, cmp: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(arr[mid] as T, item) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Inserts `item` in order; items comparing equal keep their insertion order. */
export function insertSorted<T>(arr: T[], item: T, cmp: (a: T, b: T) => number): void {
  let i = lowerBound(arr, item, cmp);
  while (i < arr.length && cmp(arr[i] as T, item) === 0) i += 1;
  arr.splice(i, 0, item);
}

/** Removes `item` (the same object) if present; returns whether it was. */
export function removeSorted<T>(arr: T[], item: T, cmp: (a: T, b: T) => number): boolean {
  for (let i = lowerBound(arr, item, cmp); i < arr.length && cmp(arr[i] as T, item) === 0; i += 1) {
    if (arr[i] === item) {
      arr.splice(i, 1);
      return true;
    }
  }
  return false;
}
