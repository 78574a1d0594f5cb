import type { ExternalConnection, WorkspaceView } from '@molecule/contracts';
import type { Api } from './api.js';
import type { Feed } from './feed.js';

/** What the canvas does for a tab beyond the API: the dialogs and messages that belong to the page. */
export interface CanvasCommands {
  /** Asks to delete these workspaces (the confirmation lists what goes). */
  requestDelete(ids: string[]): void;
  /** Shows an external agent's connection details (its new token, once). */
  showConnect(name: string, connection: ExternalConnection): void;
  /** Moves a workspace under another (null: to the top level); rejects with the reason. */
  move(id: string, parentId: string | null): Promise<void>;
}

/** What every side-panel tab gets: the selected workspace, all shown workspaces, the API client, the live feed, the page's commands. */
export interface TabProps {
  workspace: WorkspaceView;
  workspaces: Record<string, WorkspaceView>;
  api: Api;
  /** Live events, for tabs that follow more than the workspace's row. */
  feed: Feed;
  canvas: CanvasCommands;
}
