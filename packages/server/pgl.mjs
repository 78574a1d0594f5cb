import { PGlite } from '@electric-sql/pglite';
let t=Date.now(); const p = new PGlite(); await p.waitReady; console.log('init', Date.now()-t);
t=Date.now(); const p2 = new PGlite(); await p2.waitReady; console.log('init2', Date.now()-t);
t=Date.now(); const dump = await p.dumpDataDir('none'); console.log('dump', Date.now()-t, dump.size);
t=Date.now(); const p3 = new PGlite({loadDataDir: dump}); await p3.waitReady; console.log('init3 from dump', Date.now()-t);
t=Date.now(); const p4 = new PGlite('/tmp/pgl-x'); await p4.waitReady; console.log('init4 disk', Date.now()-t);
await p4.close();
t=Date.now(); const p5 = new PGlite('/tmp/pgl-x'); await p5.waitReady; console.log('init5 disk existing', Date.now()-t);
