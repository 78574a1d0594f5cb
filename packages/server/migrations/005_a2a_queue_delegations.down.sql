DROP TABLE IF EXISTS workspace_spend;
DROP TABLE IF EXISTS delegations;
DROP TABLE IF EXISTS a2a_queue;
