// A list the API pages with a cursor: the first page, "load more", and what the screen shows
// while it loads or when a call fails. Every paged list in the console reads through this.

import { type Ref, ref } from "vue";
import { messageOf, type Page } from "../api/client";

export interface Pages<T, P extends Page<T>> {
  items: Ref<T[]>;
  /** The last page's whole answer (its totals, counts beside the items). */
  last: Ref<P | null>;
  cursor: Ref<string | null>;
  loading: Ref<boolean>;
  error: Ref<string>;
  reload: () => Promise<void>;
  more: () => Promise<void>;
}

export function usePages<T, P extends Page<T> = Page<T>>(
  fetchPage: (cursor: string | null) => Promise<P>,
  afterEach?: (page: P) => Promise<unknown> | void,
): Pages<T, P> {
  const items = ref([]) as Ref<T[]>;
  const last = ref(null) as Ref<P | null>;
  const cursor = ref<string | null>(null);
  const loading = ref(false);
  const error = ref("");

  async function load(after: string | null): Promise<void> {
    loading.value = true;
    error.value = "";
    try {
      const page = await fetchPage(after);
      items.value = after ? [...items.value, ...page.items] : page.items;
      cursor.value = page.next_cursor ?? null;
      last.value = page;
      await afterEach?.(page);
    } catch (e) {
      error.value = messageOf(e);
      if (!after) {
        // A first page that failed: what is on screen belongs to the last query (another month,
        // another filter), and its rows and totals must not pass for this one's.
        items.value = [];
        last.value = null;
        cursor.value = null;
      }
    } finally {
      loading.value = false;
    }
  }

  return { items, last, cursor, loading, error, reload: () => load(null), more: () => load(cursor.value) };
}
