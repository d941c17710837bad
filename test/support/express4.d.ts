// The Express 4 alias used to run the HTTP tests on both majors; its API is typed like 5's.
declare module 'express4' {
  import express from 'express';
  export default express;
}
