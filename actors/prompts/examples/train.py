def train_model(model, X, y):
    model.fit(X, y)
    return model
