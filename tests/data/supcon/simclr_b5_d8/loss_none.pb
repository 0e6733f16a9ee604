
B	loss_noneJP©ðñÏ'1@¡‚%ZtÉ?ü´­ s@ÐxUVî}@HKZ!uÁ@ÝDs%@üUO_ñÚ?ßÝÉòÔ"@¥§W°!t@f>x“E#@