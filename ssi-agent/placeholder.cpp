// removed once the agent's sources land
