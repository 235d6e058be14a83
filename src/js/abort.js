// abort.js — one "abort" listener per AbortSignal, however many streams and
// calls share it: N listeners on one signal would make Node warn
// (MaxListenersExceededWarning) and cost O(N) per abort.

/** @type {WeakMap<AbortSignal, Set<() => void>>} */
const subscribers = new WeakMap();

/**
 * Calls `fn` once when `signal` aborts. Returns a function that unsubscribes.
 * The caller checks `signal.aborted` first: an already aborted signal never fires.
 * @param {AbortSignal} signal @param {() => void} fn @returns {() => void}
 */
export function onAbort(signal, fn) {
  let set = subscribers.get(signal);
  if (!set) {
    const fresh = new Set();
    set = fresh;
    subscribers.set(signal, fresh);
    signal.addEventListener("abort", () => {
      subscribers.delete(signal);
      for (const f of fresh) f();
    }, { once: true });
  }
  set.add(fn);
  return () => { set.delete(fn); };
}

/**
 * Settles as `promise` does, or rejects with `makeError()` as soon as `signal`
 * aborts (at once if it already has). `promise` goes on; its rejection is handled.
 * @template T @param {Promise<T>} promise @param {AbortSignal} signal
 * @param {() => Error} makeError @returns {Promise<T>}
 */
export function raceAbort(promise, signal, makeError) {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(makeError());
  }
  return new Promise((resolve, reject) => {
    const off = onAbort(signal, () => reject(makeError()));
    promise.then((v) => { off(); resolve(v); }, (e) => { off(); reject(e); });
  });
}
