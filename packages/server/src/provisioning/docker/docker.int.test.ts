import { dockerAdaptersSuite } from './adapters.suite.js';
import { dockerBackendSuite } from './backend.suite.js';
import { dockerE2eSuite } from './e2e.suite.js';
import { dockerFilesSuite } from './files.suite.js';
import { dockerPluginsSuite } from '../../plugins/docker.suite.js';
import { dockerTerminalSuite } from './terminal.suite.js';

// One file, so the suites never run at once against the one test engine: the end-to-end server's
// orphan sweeper reaps every managed container that has no row in its own database, as it should.
dockerBackendSuite();
dockerE2eSuite();
dockerAdaptersSuite();
dockerFilesSuite();
dockerPluginsSuite();
dockerTerminalSuite();
