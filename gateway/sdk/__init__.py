"""What a merchant's own code uses: a typed REST client and the webhook signature check."""
