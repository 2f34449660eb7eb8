"""Serving: an OpenAI-compatible API that splits the reasoning out (`reasoning_content`), a chat
page, and a terminal chat. FastAPI/uvicorn are an optional extra (`pip install -e '.[serve]'`);
the splitter and the engine need neither; the terminal chat needs only pydantic (in the extra).

    reasonrl serve MODEL_DIR [--host --port --api-key]      (reasonrl.serve.command)
    reasonrl chat MODEL_DIR                                  (reasonrl.serve.chat)
"""
