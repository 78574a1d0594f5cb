import type { EventType, PlatformEvent } from '@molecule/contracts';

/**
 * The columns a status-changing statement returns for the `structure_events` row it wrote itself.
 * Those statements insert their event in the same statement as the change (a data-modifying CTE,
 * under the row lock), so the events' `seq` order is the order of the transitions even when
 * replicas race; the caller then publishes the event with `broadcaster.publish`.
 */
export interface RecordedEventColumns {
  event_seq: number | null;
  event_type: EventType | null;
  event_payload: Record<string, unknown> | null;
  event_at: Date | string | null;
}

/** The event a statement recorded, or undefined when it recorded none. */
export function recordedEvent(workspaceId: string, row: RecordedEventColumns): PlatformEvent | undefined {
  if (row.event_seq === null || row.event_type === null) return undefined;
  return {
    type: row.event_type,
    workspace_id: workspaceId,
    payload: row.event_payload ?? {},
    at: new Date(row.event_at!).toISOString(),
    seq: Number(row.event_seq),
  };
}

/** The SELECT list that exposes an `ev` CTE's row as RecordedEventColumns. */
export const EVENT_COLUMNS = 'ev.id AS event_seq, ev.event_type, ev.payload AS event_payload, ev.created_at AS event_at';
