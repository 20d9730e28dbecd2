package flow

func s3TaskTypes() []*TypeDef { return nil }
