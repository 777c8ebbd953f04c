def predict(model, X):
    return model.predict(X)
