"""Scripted replies for one penguins competition: three instructions, a critique, a resolution, and
free-form stage code that passes the harness's contracts."""
from __future__ import annotations

import json

from actors.llm.base import ChatRequest


PLAN = {"preprocessing": "one-hot encode island and sex, fill missing numbers with medians",
        "model": "a random forest classifier with 200 trees", "training": "fit on all rows",
        "submission": "predict the species label for each test row"}


INSTRUCTIONS = json.dumps({"instructions": [PLAN, PLAN, PLAN]})


CRITIC = json.dumps({"critiques": [{"errors": []}, {"errors": ["none"]}, {"errors": []}]})


RESOLVER = json.dumps({"best": 1, "reasons": "handles categorical columns", "refined": PLAN})


GOOD = {
    "preprocess": """
def preprocess(train, test):
    both = pd.concat([train, test])
    both = pd.get_dummies(both, columns=["island", "sex"], dummy_na=True).astype(float)
    both = both.fillna(both.median())
    return both.iloc[:len(train)], both.iloc[len(train):]
""",
    "model": """
from sklearn.ensemble import RandomForestClassifier
def build_model():
    return RandomForestClassifier(n_estimators=50, random_state=SEED)
""",
    "train": "def train_model(model, X, y):\n    model.fit(X, y)\n    return model\n",
    "predict": "def predict(model, X):\n    return model.predict(X)\n",
}


def stage_of(req: ChatRequest) -> str | None:
    text = req.messages[-1]["content"]
    if "Write this Python function:" not in text:  # reflections quote the code too, but are not stage prompts
        return None
    for stage, fn in (("preprocess", "def preprocess("), ("model", "def build_model("),
                      ("train", "def train_model("), ("predict", "def predict(")):
        if f"```python\n{fn}" in text:
            return stage
    return None


CODE_STYLES = {"preprocess": "code", "model": "code", "train": "code", "predict": "code"}
