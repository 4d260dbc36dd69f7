module callctl/bench/callbacksload

go 1.22
