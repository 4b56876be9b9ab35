import React from "react";

import { submitOrder } from "../api/cartApi";

export default class Checkout extends React.Component<{ cartId: string }> {
  render() {
    return <button onClick={() => submitOrder(this.props.cartId, "me@example.com")}>Place order</button>;
  }
}
