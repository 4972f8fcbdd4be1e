/** One query on a fresh connection: the tests' look into a PostgreSQL store from outside the cloud. */
import pg from 'pg';

export async function queryRows<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}
