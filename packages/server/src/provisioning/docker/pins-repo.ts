import type { Queryable } from '../../db/port.js';

/** The digest pinned for a template's runtime image in runtime_image_pins (C133), if any. */
export async function pinnedDigest(q: Queryable, templateName: string): Promise<string | undefined> {
  const r = await q.query<{ digest: string }>('SELECT digest FROM runtime_image_pins WHERE template_name = $1', [templateName]);
  return r.rows[0]?.digest;
}
