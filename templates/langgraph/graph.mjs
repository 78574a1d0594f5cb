// The graph a `langgraph` workspace runs: a ReAct loop (the model answers or calls tools; tool
// results go back to the model) over the platform tools. molecule-agent calls the default export
// once per message with the libraries, the chat model and the tools, and compiles what it returns
// with the workspace's checkpointer (thread_id = the A2A conversation). Edit freely: any
// StateGraph over MessagesAnnotation works.
export default function createGraph({ model, tools, systemPrompt, langgraph, prebuilt, messages }) {
  const { StateGraph, MessagesAnnotation, START, END } = langgraph;
  const bound = tools.length > 0 ? model.bindTools(tools) : model;
  const agent = async (state) => {
    const prompt = systemPrompt ? [new messages.SystemMessage(systemPrompt)] : [];
    return { messages: [await bound.invoke([...prompt, ...state.messages])] };
  };
  const graph = new StateGraph(MessagesAnnotation).addNode('agent', agent).addEdge(START, 'agent');
  if (tools.length === 0) return graph.addEdge('agent', END);
  return graph.addNode('tools', new prebuilt.ToolNode(tools)).addConditionalEdges('agent', prebuilt.toolsCondition).addEdge('tools', 'agent');
}
