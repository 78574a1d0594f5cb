import type { WorkspaceView } from '@molecule/contracts';
import type { Api } from './api.js';

/** What every side-panel tab gets: the selected workspace, all shown workspaces, the API client. */
export interface TabProps {
  workspace: WorkspaceView;
  workspaces: Record<string, WorkspaceView>;
  api: Api;
}
