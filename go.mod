module github.com/queuelink/queuelink

go 1.26.8

require github.com/mattn/go-pointer v0.0.1
