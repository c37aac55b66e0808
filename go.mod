module github.com/queuelink/queuelink

go 1.26.8

require github.com/mattn/go-pointer v0.0.1

require (
	github.com/stretchr/testify v1.12.1
	go.yaml.in/yaml/v3 v3.0.5 // indirect
)
