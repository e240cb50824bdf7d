"""Reference renderings of Qwen3's chat template with Python's Jinja, the engine the template is
written for, set up the way Hugging Face renders chat templates (trim_blocks, lstrip_blocks,
loop controls, a sandbox, tojson without ASCII escaping, raise_exception).

Usage (made with Jinja2 3.1.6):
  python3 make_chat_reference.py ../tokenizers/qwen3/tokenizer_config.json > qwen3_chat_reference.json
  python3 make_chat_reference.py llama_style_template.jinja > llama_style_chat_reference.json
The second is a Llama-3-style template written for these tests (dict access, filters inside
concatenations, slicing, raise_exception). ChatTemplateTest renders the same conversations with
Jinjava and must produce the same text.
"""
import json, sys
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise ValueError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
env.globals["raise_exception"] = raise_exception
if sys.argv[1].endswith(".jinja"):
    config = {"chat_template": open(sys.argv[1], encoding="utf-8").read(), "bos_token": "<|begin_of_text|>",
              "eos_token": "<|eot_id|>"}
else:
    config = json.load(open(sys.argv[1], encoding="utf-8"))
template = env.from_string(config["chat_template"])

conversations = [
    [{"role": "user", "content": "Sort 3 1 2"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "<think>\nThe user greets.\n</think>\n\nHello!"},
     {"role": "user", "content": "How are you?"}],
    [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
     {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "\n\n6"},
     {"role": "user", "content": "thanks"}],
    [{"role": "user", "content": "<tool_response>x</tool_response>"}],
    [{"role": "user", "content": "quotes ' \" and {{ braces }} {% tags %}, unicode caf\u00e9 \u4e2d\u6587 \U0001F642\n  indented\n"}],
    [{"role": "user", "content": "a"}, {"role": "assistant", "content": "<think>why</think>b"},
     {"role": "system", "content": "late system turn"}, {"role": "user", "content": "c"}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>\nr\n</think>\n\nans"}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>r</think>a"},
     {"role": "user", "content": "<tool_response>t</tool_response>"}],
]
if sys.argv[1].endswith(".jinja"):  # this template wants alternating turns after an optional system turn
    conversations = [[{"role": "system", "content": "  Be brief. \n"}, {"role": "user", "content": " Hi there \n"}],
                     [{"role": "user", "content": "a"}, {"role": "assistant", "content": " b "}, {"role": "user", "content": "c"}],
                     [{"role": "user", "content": "quotes ' \" {{ x }} caf\u00e9"}]]
out = []
for messages in conversations:
    out.append({"messages": messages,
                "bos_token": config.get("bos_token") or "", "eos_token": config["eos_token"],
                "rendered": template.render(messages=messages, add_generation_prompt=True,
                                            bos_token=config.get("bos_token") or "", eos_token=config["eos_token"])})
print(json.dumps(out, ensure_ascii=False, indent=1))
