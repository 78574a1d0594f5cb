/** A timestamp column as the API shows it: RFC 3339 UTC, or null. */
export const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
