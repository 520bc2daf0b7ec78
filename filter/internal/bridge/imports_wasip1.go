//go:build wasip1 && !tinygo

package bridge

// The proxy-wasm ABI's host functions, imported from module "env". Sizes are
// i32 on the wire, so they are int32 here rather than Go's 64-bit int;
// out-parameters are *uint32 because the host writes 32-bit addresses and
// sizes into them.

//go:wasmimport env proxy_log
func imLog(level uint32, msg *byte, msgSize int32) uint32

//go:wasmimport env proxy_set_property
func imSetProperty(path *byte, pathSize int32, value *byte, valueSize int32) uint32

//go:wasmimport env proxy_get_property
func imGetProperty(path *byte, pathSize int32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_send_local_response
func imSendLocalResponse(statusCode uint32, details *byte, detailsSize int32, body *byte, bodySize int32,
	headers *byte, headersSize int32, grpcStatus int32) uint32

//go:wasmimport env proxy_get_shared_data
func imGetSharedData(key *byte, keySize int32, retData, retSize, retCas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func imSetSharedData(key *byte, keySize int32, value *byte, valueSize int32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func imRegisterSharedQueue(name *byte, nameSize int32, retID *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func imResolveSharedQueue(vmID *byte, vmIDSize int32, name *byte, nameSize int32, retID *uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func imDequeueSharedQueue(queueID uint32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func imEnqueueSharedQueue(queueID uint32, value *byte, valueSize int32) uint32

//go:wasmimport env proxy_get_header_map_value
func imGetHeaderMapValue(mapType uint32, key *byte, keySize int32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func imAddHeaderMapValue(mapType uint32, key *byte, keySize int32, value *byte, valueSize int32) uint32

//go:wasmimport env proxy_replace_header_map_value
func imReplaceHeaderMapValue(mapType uint32, key *byte, keySize int32, value *byte, valueSize int32) uint32

//go:wasmimport env proxy_remove_header_map_value
func imRemoveHeaderMapValue(mapType uint32, key *byte, keySize int32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func imGetHeaderMapPairs(mapType uint32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_set_header_map_pairs
func imSetHeaderMapPairs(mapType uint32, data *byte, size int32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func imGetBufferBytes(bufferType uint32, start, maxSize int32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func imSetBufferBytes(bufferType uint32, start, maxSize int32, data *byte, size int32) uint32

//go:wasmimport env proxy_continue_stream
func imContinueStream(streamType uint32) uint32

//go:wasmimport env proxy_close_stream
func imCloseStream(streamType uint32) uint32

//go:wasmimport env proxy_http_call
func imHttpCall(upstream *byte, upstreamSize int32, headers *byte, headersSize int32, body *byte, bodySize int32,
	trailers *byte, trailersSize int32, timeoutMillis uint32, retCalloutID *uint32) uint32

//go:wasmimport env proxy_call_foreign_function
func imCallForeignFunction(name *byte, nameSize int32, param *byte, paramSize int32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func imSetTickPeriodMilliseconds(period uint32) uint32

//go:wasmimport env proxy_set_effective_context
func imSetEffectiveContext(contextID uint32) uint32

//go:wasmimport env proxy_done
func imDone() uint32

//go:wasmimport env proxy_define_metric
func imDefineMetric(metricType uint32, name *byte, nameSize int32, retID *uint32) uint32

//go:wasmimport env proxy_increment_metric
func imIncrementMetric(metricID uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func imRecordMetric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func imGetMetric(metricID uint32, retValue *uint64) uint32
