"""Train an MLP on the 8×8 digits with deltaflow's Trainer -- PyTorch habits carry over.

    python examples/train_mlp.py      # ~97% test accuracy; writes runs/example-mlp/
"""
import deltaflow as dl
from deltaflow import nn
from deltaflow.data import DataLoader, datasets
from deltaflow.train import Trainer

dl.manual_seed(0)
train, test = datasets.digits()                      # real data, ships with scikit-learn
model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 10))
optimizer = dl.optim.Adam(model.parameters(), lr=3e-3)
trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(label_smoothing=0.1),
                  scheduler=dl.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30),
                  run_dir="runs/example-mlp")       # metrics.jsonl, checkpoints, curves.png
trainer.fit(DataLoader(train, batch_size=64, shuffle=True), DataLoader(test, batch_size=256),
            epochs=30)
print(trainer.evaluate(DataLoader(test, batch_size=256)))   # {'loss': ..., 'accuracy': ...}
