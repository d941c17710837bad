// The PostgreSQL entry: SQL an agent writes runs as the signed-in person, under the database's
// own row-level security and column privileges, checked with PostgreSQL's parser first, and
// audited per statement.

export { createUserQuery } from './postgres/user-query.js';
export type { UserQuery, UserQueryCallOptions, UserQueryResult } from './postgres/user-query.js';
export type { UserQueryOptions } from './postgres/postgres-options.js';
export type { CheckedStatement } from './postgres/sql-check.js';
